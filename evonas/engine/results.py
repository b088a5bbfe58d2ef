"""Reading a stored run back: its objectives, its Pareto front and its hypervolume over time."""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from evonas.core.objectives import Constraint, Direction, Objective, to_min_vector
from evonas.core.pareto import HypervolumeHistory, Normalisation, NoiseAwareArchive, ParetoArchive, StoredRemeasures
from evonas.core.problem import Trial, TrialState
from evonas.engine.store import CandidateRow, RunStore


def stored_objectives(store: RunStore) -> tuple[Objective, ...]:
    """The objectives a stored run optimised (names, directions, units and bounds; no sources)."""
    return tuple(Objective(o["name"], Direction[o["direction"]], o.get("unit", ""),
                           bounds=None if o.get("bounds") is None else tuple(o["bounds"]))
                 for o in store.config["objectives"])


def _trial(row: CandidateRow, objectives: tuple[Objective, ...]) -> Trial:
    return Trial(row.id, row.genome, row.parent_id, row.operator, TrialState(row.status), row.metrics,
                 to_min_vector(objectives, row.metrics), row.violation, row.fidelity)


def stored_archive(store: RunStore) -> ParetoArchive:
    """The archive a stored run ended with: noise-aware runs replay their re-measurements as taken."""
    if not store.config.get("noise_aware"):
        return ParetoArchive()
    objectives = stored_objectives(store)
    constraints = tuple(Constraint.parse(c) for c in store.config.get("constraints", ()))
    archive = NoiseAwareArchive()
    archive.bind(objectives, StoredRemeasures(store.remeasures(), objectives, constraints))
    return archive


def stored_front(store: RunStore) -> list[CandidateRow]:
    """The stored run's feasible non-dominated candidates, sorted by the first objective.

    A noise-aware run's members carry the metrics they were last measured with.
    """
    archive = stored_archive(store)
    for _ in replay(store, archive):
        pass  # replaying the run fills the archive
    order = sorted(archive.trials, key=lambda t: tuple(np.round(t.values, 12)))
    rows = {r.id: r for r in store.candidates()}
    return [dataclasses.replace(rows[t.id], metrics=t.metrics) for t in order]


def replay(store: RunStore, archive: ParetoArchive | None = None
           ) -> Iterator[tuple[int, CandidateRow, bool, ParetoArchive]]:
    """Each told candidate in tell order with (evaluations so far, row, front changed, archive).

    The archive (``stored_archive(store)`` unless given) is the run's right after that candidate
    was told; it is one object updated in place, so callers snapshot what they need at each step.
    """
    objectives = stored_objectives(store)
    archive = stored_archive(store) if archive is None else archive
    for n, r in enumerate(store.told_in_order(), 1):
        changed = r.status == TrialState.OK.value and archive.add(_trial(r, objectives))
        yield n, r, changed, archive


def stored_hypervolume(store: RunStore) -> list[tuple[int, float, float]]:
    """(evaluations, seconds since the first candidate started, hypervolume) at every front change.

    Uses the bounds stored with the run (``meta['bounds']``), the same the search reported; an
    objective stored without bounds is scaled by the range the whole run saw, so every entry is
    on the latest range (see :func:`stored_normalisation`).
    """
    history = _stored_history(store)
    return [] if history is None else history.entries()


def stored_normalisation(store: RunStore) -> Normalisation | None:
    """How the stored run's hypervolume scales the objectives (``relative`` where some have no bounds);
    ``None`` for a run stored without bounds."""
    history = _stored_history(store, fronts=False)
    return None if history is None else history.normalisation


def _stored_history(store: RunStore, fronts: bool = True) -> HypervolumeHistory | None:
    """The run's hypervolume history replayed (with ``fronts=False``: only the range seen)."""
    bounds = store.get_meta("bounds")
    if bounds is None:
        return None
    lower, upper = (np.array([np.nan if b is None else b for b in side], dtype=float) for side in bounds)
    objectives = stored_objectives(store)
    history = HypervolumeHistory([o.name for o in objectives], lower, upper)
    first = min((r.started_at for r in store.told_in_order()), default=0.0)
    rows = replay(store) if fronts else ((0, r, False, None) for r in store.told_in_order())
    for n, r, changed, archive in rows:
        trial = _trial(r, objectives) if r.status == TrialState.OK.value else None
        if trial is not None and trial.feasible:
            history.see(trial.values)
        if fronts and (changed or not len(history)):
            history.record(n, r.finished_at - first, archive.values)
    return history
