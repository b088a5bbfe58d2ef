"""A stored run read back as one typed object: :class:`StoredRun`.

Every reader of a finished (or still running) run uses it: ``evonas front``, ``evonas history``,
``evonas report``, ``evonas export`` and a resume. It is read from the run store in one pass
over one connection, without the writer lock (SQLite's WAL lets a reader see every committed
candidate); its front and hypervolume history are computed from what was read, by replaying
the told candidates into the archive the run used.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from evonas.core.objectives import Constraint, Direction, Objective, to_min_vector
from evonas.core.pareto import (HypervolumeHistory, Normalisation, NoiseAwareArchive, ParetoArchive, StoredRemeasures,
                                TopFidelityArchive)
from evonas.core.problem import SearchSpace, Trial, TrialState
from evonas.engine.store import CandidateRow, Measurement, RunStore

HypervolumePoint = tuple[int, float, float]
"""(evaluations, seconds since the first candidate started, hypervolume)."""


@dataclass(frozen=True)
class StoredTrial(Trial):
    """A :class:`~evonas.core.problem.Trial` read back from the run store, with when it ran.

    ``genome`` is parsed when the run was read with its space (a resume, an export), else it is
    the stored canonical string (``str(genome)`` is the same text either way). ``values`` are NaN
    unless the trial is OK, as in the driver.

    Attributes:
        started_at, finished_at: wall-clock times it was asked and told.
        eval_seconds: how long its evaluation took.
        tell_order: the tells before it (``None``: a run of one worker, id order).
        asked_before: the candidates asked by the time it was told.
    """

    started_at: float = 0.0
    finished_at: float = 0.0
    eval_seconds: float = 0.0
    tell_order: int | None = None
    asked_before: int | None = None


@dataclass(frozen=True)
class StoredRun:
    """Everything a run store holds, typed; read with :meth:`read` (or :meth:`of` an open store).

    Attributes:
        run_dir: the run directory.
        config: the configuration stored when the run was created (incl. ``search``: the CLI's spec).
        objectives: the objectives searched (names, directions, units, bounds; no sources).
        constraints: the run's constraints.
        bounds: the (lower, upper) minimisation-form bounds its hypervolume was scaled by, if stored
            (NaN for an objective without bounds, scaled by the range seen).
        trials: every candidate in id order, running ones included.
        scores: held-out scores by candidate id.
        remeasures: side-by-side re-measurements of a noise-aware run, in the order taken.
        measurements: every hardware measurement, in the order taken.
        versions: the evonas versions that created and resumed the run (oldest first).
        next_id: the id the next candidate gets.
        schedule: the multi-fidelity schedule the run used (its stored description), if any: the
            front then holds only the trials at the highest fidelity reached.
    """

    run_dir: Path
    config: dict[str, Any]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    bounds: tuple[np.ndarray, np.ndarray] | None
    trials: tuple[StoredTrial, ...]
    scores: dict[int, dict[str, float]] = field(default_factory=dict)
    remeasures: tuple[tuple[int, int, list[dict[str, float]]], ...] = ()
    measurements: tuple[Measurement, ...] = ()
    versions: tuple[dict[str, str], ...] = ()
    next_id: int = 0
    schedule: dict[str, Any] | None = None

    # -- reading ----------------------------------------------------------------------
    @classmethod
    def read(cls, run_dir: str | Path, space: SearchSpace | None = None) -> "StoredRun":
        """Open ``run_dir`` read-only (no lock), read it whole and close it.

        Raises:
            UserError: ``run_dir`` holds no run, or a corrupt one.
        """
        with RunStore.open(run_dir) as store:
            return cls.of(store, space)

    @classmethod
    def of(cls, store: RunStore, space: SearchSpace | None = None) -> "StoredRun":
        """Read an open store (a resume reads through its writer's connection); genomes parsed by ``space``."""
        config = store.config
        objectives = _objectives(config)
        bounds = store.get_meta("bounds")
        run = cls(
            run_dir=store.run_dir, config=config, objectives=objectives,
            constraints=tuple(Constraint.parse(c) for c in config.get("constraints", ())),
            bounds=None if bounds is None else tuple(np.array([np.nan if b is None else b for b in side], float)
                                                     for side in bounds),
            trials=tuple(_trial(r, objectives) for r in store.candidates(include_running=True)),
            scores=store.scores(), remeasures=tuple(store.remeasures()),
            measurements=tuple(store.measurements()), versions=tuple(store.versions()), next_id=store.next_id(),
            schedule=store.get_meta("schedule"))
        return run if space is None else run.parsed(space)

    def parsed(self, space: SearchSpace) -> "StoredRun":
        """This run with every genome parsed by ``space`` (already parsed ones are left as they are)."""
        trials = tuple(t if not isinstance(t.genome, str) else dataclasses.replace(t, genome=space.parse(t.genome))
                       for t in self.trials)
        return dataclasses.replace(self, trials=trials)

    # -- views ----------------------------------------------------------------------------
    @property
    def spec(self) -> dict[str, Any]:
        """The CLI's stored run spec (``RunSpec.to_dict()``); empty for a run made through the Python API."""
        return self.config.get("search") or {}

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def noise_aware(self) -> bool:
        return bool(self.config.get("noise_aware", False))

    @property
    def told(self) -> tuple[StoredTrial, ...]:
        """Every finished candidate in the order it was told (id order for runs of one worker)."""
        done = [t for t in self.trials if t.state is not TrialState.RUNNING]
        return tuple(sorted(done, key=lambda t: (t.id if t.tell_order is None else t.tell_order, t.id)))

    @property
    def running(self) -> tuple[StoredTrial, ...]:
        return tuple(t for t in self.trials if t.state is TrialState.RUNNING)

    @property
    def failed(self) -> tuple[StoredTrial, ...]:
        return tuple(t for t in self.trials if t.state is TrialState.FAILED)

    def trial(self, candidate_id: int) -> StoredTrial | None:
        """The candidate with this id, if the run has it."""
        return self._by_id.get(candidate_id)

    @functools.cached_property
    def _by_id(self) -> dict[int, StoredTrial]:
        return {t.id: t for t in self.trials}

    @property
    def fingerprint(self) -> dict[str, Any] | None:
        """The environment of the run's first hardware measurement, if it took any."""
        return self.measurements[0].fingerprint if self.measurements else None

    def archive(self) -> ParetoArchive:
        """A fresh archive of the kind the run used: a noise-aware one replays its re-measurements as
        taken; under a schedule, only the highest fidelity reached counts."""
        kind = NoiseAwareArchive if self.noise_aware else ParetoArchive
        archive = TopFidelityArchive(kind) if self.schedule else kind()
        archive.bind(self.objectives, StoredRemeasures(self.remeasures, self.objectives, self.constraints))
        return archive

    @property
    def front_fidelity(self) -> float | None:
        """Under a schedule, the fidelity the front is taken at (the highest reached); else None."""
        return max((t.fidelity for t in self.front if t.fidelity is not None), default=None) if self.schedule else None

    def replay(self) -> Iterator[tuple[int, StoredTrial, bool, ParetoArchive]]:
        """Each told candidate in tell order with (evaluations so far, trial, front changed, archive).

        The archive is the run's right after that candidate was told; it is one object updated in
        place, so callers snapshot what they need at each step. Nothing is read from disk.
        """
        archive = self.archive()
        for n, t in enumerate(self.told, 1):
            yield n, t, t.ok and archive.add(t), archive

    @functools.cached_property
    def front(self) -> tuple[StoredTrial, ...]:
        """The feasible non-dominated candidates, sorted by the first objective (as the search's
        :meth:`~evonas.engine.driver.Search.front`); a noise-aware run's members carry the metrics
        they were last measured with."""
        archive = None
        for _, _, _, archive in self.replay():
            pass  # replaying the run fills the archive
        members = [] if archive is None else archive.trials
        return tuple(sorted(members, key=lambda t: tuple(np.round(t.values, 12))))

    @property
    def hypervolume(self) -> tuple[HypervolumePoint, ...]:
        """(evaluations, seconds since the first candidate started, hypervolume) at every front change.

        Uses the bounds stored with the run, the same the search reported; an objective stored
        without bounds is scaled by the range the whole run saw, so every entry is on the latest
        range (:attr:`normalisation`). Empty for a run stored without bounds.
        """
        return () if self._history is None else tuple(self._history.entries())

    @property
    def normalisation(self) -> Normalisation | None:
        """How the hypervolume scales the objectives (``relative`` where some have no bounds);
        ``None`` for a run stored without bounds."""
        return None if self._history is None else self._history.normalisation

    @functools.cached_property
    def _history(self) -> HypervolumeHistory | None:
        """The run's hypervolume history, replayed from the told candidates."""
        if self.bounds is None:
            return None
        history = HypervolumeHistory([o.name for o in self.objectives], *self.bounds)
        first = min((t.started_at for t in self.told), default=0.0)
        for n, t, changed, archive in self.replay():
            if t.feasible:
                history.see(t.values)
            if changed or not len(history):
                history.record(n, t.finished_at - first, archive.values)
        return history


def _objectives(config: dict[str, Any]) -> tuple[Objective, ...]:
    """The objectives a stored run optimised (names, directions, units and bounds; no sources)."""
    return tuple(Objective(o["name"], Direction[o["direction"]], o.get("unit", ""),
                           bounds=None if o.get("bounds") is None else tuple(o["bounds"]))
                 for o in config.get("objectives", ()))


def _trial(row: CandidateRow, objectives: tuple[Objective, ...]) -> StoredTrial:
    ok = row.status is TrialState.OK
    values = to_min_vector(objectives, row.metrics) if ok else np.full(len(objectives), np.nan)
    return StoredTrial(row.id, row.genome, row.parent_id, row.operator, row.status, row.metrics, values,
                       row.violation, row.fidelity, row.error, row.cost, started_at=row.started_at,
                       finished_at=row.finished_at, eval_seconds=row.eval_seconds, tell_order=row.tell_order,
                       asked_before=row.asked_before)
