"""A stored run read back for a report: every candidate, the front and how it moved, the lineage.

Reading never takes the run's writer lock (SQLite in WAL mode lets a reader see every
committed candidate), so a report can be written while the search is still going.
"""

from __future__ import annotations

import dataclasses

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evonas.core.objectives import Objective
from evonas.core.pareto import Normalisation
from evonas.core.problem import TrialState
from evonas.engine.results import replay, stored_front, stored_hypervolume, stored_normalisation, stored_objectives
from evonas.engine.store import CandidateRow, RunStore

CHECKPOINTS = (0.25, 0.5, 0.75)
"""Fractions of the told candidates at which the front is snapshotted to show its progress."""


@dataclass(frozen=True)
class FrontSnapshot:
    """The front right after ``evaluations`` candidates were told: member ids and their metrics."""

    evaluations: int
    members: tuple[tuple[int, dict[str, float]], ...]


@dataclass(frozen=True)
class RunView:
    """What a report shows of one run, read once from its store.

    Attributes:
        run_dir: the run directory.
        objectives: the run's objectives (names, directions, units).
        candidates: every candidate in id order, running ones included.
        told: the finished candidates in the order they were told.
        front: the final front (feasible, non-dominated), sorted by the first objective.
        snapshots: the front at :data:`CHECKPOINTS` of the told candidates.
        hypervolume: (evaluations, seconds, hypervolume) at every change of the front.
        config: the run's stored configuration.
        versions: the evonas versions that created and resumed the run (:meth:`RunStore.versions`).
        fingerprint: the environment the run's hardware measurements were taken in, if any.
        scores: held-out scores by candidate id (metrics the search never saw, e.g. a test accuracy).
        normalisation: how the hypervolume scales the objectives (``relative`` where some have
            no bounds and are scaled by the range seen).
    """

    run_dir: Path
    objectives: tuple[Objective, ...]
    candidates: tuple[CandidateRow, ...]
    told: tuple[CandidateRow, ...]
    front: tuple[CandidateRow, ...]
    snapshots: tuple[FrontSnapshot, ...]
    hypervolume: tuple[tuple[int, float, float], ...]
    config: dict[str, Any]
    versions: tuple[dict[str, str], ...]
    fingerprint: dict[str, Any] | None
    scores: dict[int, dict[str, float]] = dataclasses.field(default_factory=dict)
    normalisation: Normalisation | None = None

    @property
    def hypervolume_label(self) -> str:
        """'hypervolume', or 'hypervolume (relative to the range seen: NAME)'."""
        return "hypervolume" if self.normalisation is None else self.normalisation.label()

    @property
    def score_names(self) -> list[str]:
        """The held-out scores any candidate has, in first-seen order."""
        return list(dict.fromkeys(name for values in self.scores.values() for name in values))

    @property
    def running(self) -> tuple[CandidateRow, ...]:
        return tuple(r for r in self.candidates if r.status == TrialState.RUNNING.value)

    @property
    def failed(self) -> tuple[CandidateRow, ...]:
        return tuple(r for r in self.told if r.status == TrialState.FAILED.value)

    @property
    def budget(self) -> int | None:
        """The evaluation budget of a CLI run (``None`` for runs made through the Python API)."""
        return (self.config.get("search") or {}).get("evaluations")

    @property
    def wall_seconds(self) -> float:
        if not self.told:
            return 0.0
        return max(r.finished_at for r in self.told) - min(r.started_at for r in self.told)

    def lineage(self, candidate_id: int) -> list[CandidateRow]:
        """The candidate and its ancestors, the candidate first, back to a root without a parent."""
        by_id = {r.id: r for r in self.candidates}
        chain, seen = [], set()
        current = by_id.get(candidate_id)
        while current is not None and current.id not in seen:
            chain.append(current)
            seen.add(current.id)
            current = None if current.parent_id is None else by_id.get(current.parent_id)
        return chain


def load_run(run_dir: str | Path) -> RunView:
    """Read ``run_dir`` (finished or still running) into a :class:`RunView`.

    Raises:
        UserError: ``run_dir`` holds no run, or a corrupt one.
    """
    with RunStore.open(run_dir) as store:
        objectives = stored_objectives(store)
        told = tuple(store.told_in_order())
        checkpoints = {max(1, math.ceil(f * len(told))) for f in CHECKPOINTS} if told else set()
        snapshots = tuple(FrontSnapshot(n, tuple((t.id, dict(t.metrics)) for t in archive.trials))
                          for n, _, _, archive in replay(store) if n in checkpoints)
        measurements = store.measurements()
        return RunView(
            run_dir=Path(run_dir),
            objectives=objectives,
            candidates=tuple(store.candidates(include_running=True)),
            told=told,
            front=tuple(stored_front(store)),
            snapshots=snapshots,
            hypervolume=tuple(stored_hypervolume(store)),
            config=store.config,
            versions=tuple(store.versions()),
            fingerprint=measurements[0]["fingerprint"] if measurements else None,
            scores=store.scores(),
            normalisation=stored_normalisation(store),
        )


def finite(metrics: dict[str, float], name: str) -> float | None:
    """``metrics[name]`` if present and finite, else ``None``."""
    value = metrics.get(name)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


_FLAT_LIST = re.compile(r"\[(?:[^\[\]{}]|\[[^\[\]{}\n]*\])*\]")


def pretty_json(value: Any) -> str:
    """Indented JSON with lists of scalars (and lists of such lists) kept on one line."""
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    for _ in range(2):  # inner lists first, then lists of them
        text = _FLAT_LIST.sub(lambda m: re.sub(r"\s*\n\s*", " ", m.group(0)).replace("[ ", "[").replace(" ]", "]"),
                              text)
    return text
