"""Pareto ranking, the hypervolume's normalisation and history, and the archives of non-dominated trials
(sorting and HV from pymoo).

:class:`Normalisation` is the one place that decides how objectives are scaled for the
hypervolume: by the problem's declared bounds where it has them, else by the range seen so far
(the hypervolume is then *relative*), and :class:`HypervolumeHistory` keeps a hypervolume
history that is always on the latest range.

:class:`ParetoArchive` keeps the trials no other trial dominates. :class:`NoiseAwareArchive`
does the same with measured objectives compared as intervals (``--noise-aware``): a trial
beats another on latency only where their intervals separate, and before a member is dropped
on the strength of overlapping intervals, both are measured again side by side.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.operators.survival.rank_and_crowding.metrics import get_crowding_function
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting, find_non_dominated

from evonas.core.objectives import Constraint, Objective, to_min_intervals, to_min_vector
from evonas.core.problem import Trial

_crowding = get_crowding_function("cd")


def pareto_rank(values: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """Pareto rank (0 = best) of each row of ``values`` (minimisation).

    With ``violation``, constrained domination applies: every feasible point ranks before
    every infeasible one, and infeasible points rank by their violation.
    """
    n = len(values)
    rank = np.zeros(n, dtype=int)
    feasible = np.ones(n, bool) if violation is None else np.asarray(violation) <= 0
    idx = np.flatnonzero(feasible)
    worst = 0
    if len(idx):
        rank[idx] = NonDominatedSorting().do(values[idx], return_rank=True)[1]
        worst = int(rank[idx].max()) + 1
    bad = np.flatnonzero(~feasible)
    if len(bad):
        order = np.argsort(np.asarray(violation)[bad], kind="stable")
        rank[bad[order]] = worst + np.arange(len(bad))
    return rank


def crowding_distance(values: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of the rows of one front (pymoo's; extremes are infinite)."""
    return _crowding.do(values)


def rank_and_crowding(values: np.ndarray, violation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pareto rank and crowding distance (computed within each rank) of each row of ``values``."""
    rank = pareto_rank(values, violation)
    crowd = np.zeros(len(values))
    for r in np.unique(rank):
        members = np.flatnonzero(rank == r)
        crowd[members] = crowding_distance(values[members])
    return rank, crowd


def better(rank: np.ndarray, crowd: np.ndarray, i: int, j: int) -> bool:
    """Whether point ``i`` beats ``j``: lower rank, then larger crowding distance."""
    return rank[i] < rank[j] or (rank[i] == rank[j] and crowd[i] > crowd[j])


def normalized(values: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Scale minimisation-form ``values`` to [0, 1] per objective by ``lower``/``upper``."""
    return (values - lower) / np.where(upper > lower, upper - lower, 1.0)


def hypervolume(values: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Hypervolume of ``values`` scaled by the bounds, reference point (1, ..., 1).

    Points outside the reference box contribute nothing (pymoo's HV convention).
    """
    if len(values) == 0:
        return 0.0
    scaled = normalized(np.atleast_2d(values), lower, upper)
    return float(HV(ref_point=np.ones(scaled.shape[1]))(scaled))


RANGE_MARGIN = 0.1
"""A range seen is widened by this fraction beyond its worst value, so the worst point seen still adds volume."""


@dataclass(frozen=True)
class Normalisation:
    """How the objectives are scaled to [0, 1] for the hypervolume (reference point (1, ..., 1)).

    Attributes:
        lower: per objective, the minimisation-form value scaled to 0.
        upper: per objective, the minimisation-form value scaled to 1.
        seen: the names of the objectives without declared bounds, scaled by the range seen so
            far; empty when every objective has declared bounds.
    """

    lower: np.ndarray
    upper: np.ndarray
    seen: tuple[str, ...] = ()

    @property
    def relative(self) -> bool:
        """Whether the hypervolume depends on the range seen (and so changes as it widens)."""
        return bool(self.seen)

    def hypervolume(self, values: np.ndarray) -> float:
        """Hypervolume of the minimisation-form rows ``values`` under this normalisation."""
        return hypervolume(values, self.lower, self.upper) if len(values) else 0.0

    def label(self) -> str:
        """'hypervolume', or 'hypervolume (relative to the range seen: size_mb)' where it is relative."""
        return f"hypervolume (relative to the range seen: {', '.join(self.seen)})" if self.relative else "hypervolume"

    def same_as(self, other: "Normalisation | None") -> bool:
        """Whether ``other`` scales exactly as this one does."""
        return (other is not None and self.seen == other.seen and np.array_equal(self.lower, other.lower, equal_nan=True)
                and np.array_equal(self.upper, other.upper, equal_nan=True))


def normalisation(names: Sequence[str], lower: np.ndarray, upper: np.ndarray,
                  seen: np.ndarray | None = None) -> Normalisation:
    """The hypervolume's normalisation: declared bounds where finite, else the range seen.

    Args:
        names: the objectives' names.
        lower, upper: declared minimisation-form bounds (a problem's ``bounds()``); NaN where
            an objective has none.
        seen: minimisation-form rows of every finished feasible trial so far (only their
            per-objective minimum and maximum matter).

    An objective without bounds runs from the best value seen to the worst plus
    :data:`RANGE_MARGIN` of the range (so a maximised objective's range runs from its largest
    value down). A range of one value (one trial, or all alike) scales every value seen to 0,
    so that objective neither adds nor removes volume; before any feasible trial the bounds
    stay NaN (the front is empty then, and its hypervolume 0).
    """
    lower, upper = np.array(lower, dtype=float), np.array(upper, dtype=float)
    unknown = ~(np.isfinite(lower) & np.isfinite(upper))
    if not unknown.any():
        return Normalisation(lower, upper)
    rows = np.empty((0, len(names))) if seen is None else np.atleast_2d(np.asarray(seen, dtype=float))
    if len(rows):
        lo, hi = rows.min(axis=0), rows.max(axis=0)
        span = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
        lower[unknown] = lo[unknown]
        upper[unknown] = np.where(hi > lo, hi + RANGE_MARGIN * span, lo + span)[unknown]
    else:
        lower[unknown], upper[unknown] = np.nan, np.nan
    return Normalisation(lower, upper, tuple(n for n, u in zip(names, unknown) if u))


class HypervolumeHistory:
    """(evaluations, seconds, hypervolume) at every change of the front, all on the latest normalisation.

    :meth:`see` every finished feasible trial's values and :meth:`record` the front whenever it
    changes; where an objective has no declared bounds, a trial that widens the range seen
    changes the normalisation, and :meth:`entries` then recomputes the whole history on it.
    """

    def __init__(self, names: Sequence[str], lower: np.ndarray, upper: np.ndarray):
        self.names, self.lower, self.upper = tuple(names), np.asarray(lower, float), np.asarray(upper, float)
        self._range: np.ndarray | None = None  # rows: per-objective min and max seen
        self._fronts: list[tuple[int, float, np.ndarray]] = []
        self._entries: list[tuple[int, float, float]] = []
        self._on: Normalisation | None = None

    @property
    def normalisation(self) -> Normalisation:
        """The normalisation of the range seen so far."""
        return normalisation(self.names, self.lower, self.upper, self._range)

    def see(self, values: np.ndarray) -> None:
        """Widen the range seen by one finished feasible trial's minimisation-form values."""
        v = np.asarray(values, float)[None, :]
        self._range = np.vstack([v, v]) if self._range is None else \
            np.vstack([np.minimum(self._range[0], v[0]), np.maximum(self._range[1], v[0])])

    def record(self, evaluations: int, seconds: float, front: np.ndarray) -> None:
        """Add the front (minimisation-form rows) after ``evaluations`` evaluations."""
        front = np.array(front, dtype=float)
        self._fronts.append((evaluations, seconds, front))
        if self._on is not None and self._on.same_as(self.normalisation):
            self._entries.append((evaluations, seconds, self._on.hypervolume(front)))

    def __len__(self) -> int:
        return len(self._fronts)

    def entries(self) -> list[tuple[int, float, float]]:
        """Every recorded front's hypervolume on the current normalisation."""
        current = self.normalisation
        if not current.same_as(self._on) or len(self._entries) != len(self._fronts):
            self._on = current
            self._entries = [(n, s, current.hypervolume(front)) for n, s, front in self._fronts]
        return list(self._entries)


def interval_dominates(a_low: np.ndarray, a_high: np.ndarray, b_low: np.ndarray, b_high: np.ndarray) -> bool:
    """Whether ``a`` dominates ``b`` when each objective is an interval [low, high] (minimisation).

    ``a`` must be nowhere worse (no objective where its interval lies wholly above ``b``'s)
    and somewhere better (an objective where it lies wholly below). Overlapping intervals
    tie. A point objective has low == high, so on points this is ordinary Pareto dominance.
    """
    return bool(np.all(a_low <= b_high) and np.any(a_high < b_low))


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Ordinary Pareto dominance of minimisation vectors."""
    return bool(np.all(a <= b) and np.any(a < b))


Remeasure = Callable[[Trial, Trial], "tuple[Trial, Trial]"]


def with_metrics(trial: Trial, updates: Mapping[str, float], objectives: Sequence[Objective],
                 constraints: Sequence[Constraint] = ()) -> Trial:
    """``trial`` with some metrics measured again: values and constraint violation follow."""
    metrics = {**trial.metrics, **{k: float(v) for k, v in updates.items()}}
    return dataclasses.replace(trial, metrics=metrics, values=to_min_vector(tuple(objectives), metrics),
                               violation=sum(c.violation(metrics) for c in constraints))


class StoredRemeasures:
    """A :data:`Remeasure` that hands out re-measurements taken before, in order, and measures nothing new.

    Reading a noise-aware run back (or replaying it on resume), the archive then takes exactly
    the decisions it took while the run went on. ``fresh`` measures what was not stored.
    """

    def __init__(self, stored: Sequence[tuple[int, int, list]], objectives: Sequence[Objective],
                 constraints: Sequence[Constraint] = (), fresh: Remeasure | None = None):
        self.stored = list(stored)
        self.objectives, self.constraints, self.fresh = tuple(objectives), tuple(constraints), fresh

    def __call__(self, first: Trial, second: Trial) -> tuple[Trial, Trial]:
        if self.stored and tuple(self.stored[0][:2]) == (first.id, second.id):
            updates = self.stored.pop(0)[2]
            return (with_metrics(first, updates[0], self.objectives, self.constraints),
                    with_metrics(second, updates[1], self.objectives, self.constraints))
        return self.fresh(first, second) if self.fresh is not None else (first, second)


class ParetoArchive:
    """The feasible, non-dominated trials seen so far (exact duplicates in objective space kept once)."""

    def __init__(self) -> None:
        self.trials: list[Trial] = []
        self._values = np.empty((0, 0))

    def bind(self, objectives: tuple[Objective, ...], remeasure: Remeasure | None = None) -> None:
        """Called by the driver with the problem's objectives and a way to measure two trials again."""

    def add(self, trial: Trial) -> bool:
        """Insert ``trial`` if feasible and not dominated; returns whether the front changed."""
        if not trial.feasible:
            return False
        v = trial.values[None, :]
        if len(self.trials):
            if np.any(np.all(self._values <= v, axis=1)):  # a duplicate or dominated: the common, cheap case
                return False
            both = np.vstack([self._values, v])
            keep = np.sort(find_non_dominated(both))
            if len(both) - 1 not in keep:
                return False
            self.trials = [self.trials[i] for i in keep if i < len(self.trials)] + [trial]
            self._values = both[keep]
        else:
            self.trials, self._values = [trial], v.copy()
        return True

    @property
    def values(self) -> np.ndarray:
        """The members' objective values in minimisation form, one row per member."""
        return self._values

    def __len__(self) -> int:
        return len(self.trials)


class NoiseAwareArchive(ParetoArchive):
    """Non-dominated trials where measured objectives are intervals (:func:`interval_dominates`).

    A trial (member or newcomer) is never dropped on the evidence of overlapping intervals
    alone: when the dominating trial's intervals do not lie wholly at or below the other's, the
    driver first measures both again side by side (``remeasure``), which cancels the
    machine's drift between them, and the decision is taken on the new intervals. Without
    ``remeasure`` (a stored run read back) the intervals decide as they are.
    """

    def __init__(self) -> None:
        super().__init__()
        self.objectives: tuple[Objective, ...] = ()
        self.remeasure: Remeasure | None = None
        self.remeasured = 0

    def bind(self, objectives: tuple[Objective, ...], remeasure: Remeasure | None = None) -> None:
        self.objectives, self.remeasure = tuple(objectives), remeasure

    def add(self, trial: Trial) -> bool:
        if not trial.feasible:
            return False
        members = list(self.trials)
        for i, member in enumerate(members):  # first: is the newcomer dominated (or a duplicate)?
            members[i], trial, member_wins = self._decide(member, trial)
            if member_wins or np.array_equal(members[i].values, trial.values):
                self._set(members)
                return False
        kept = []
        for member in members:  # then: which members does it dominate?
            member, trial, trial_wins = self._decide(trial, member, swap=True)
            if not trial_wins:
                kept.append(member)
        self._set(kept + [trial])
        return True

    def _decide(self, a: Trial, b: Trial, swap: bool = False) -> tuple[Trial, Trial, bool]:
        """Whether ``a`` dominates ``b``, re-measuring both first unless ``a`` is certainly no worse anywhere.

        Returns (member, newcomer, verdict) in the caller's order: with ``swap`` the member is ``b``.
        """
        a_low, a_high = self._interval(a)
        b_low, b_high = self._interval(b)
        wins = interval_dominates(a_low, a_high, b_low, b_high)
        if wins and self.remeasure is not None and not np.all(a_high <= b_low):
            a, b = self.remeasure(a, b)
            self.remeasured += 1
            wins = interval_dominates(*self._interval(a), *self._interval(b))
        return (b, a, wins) if swap else (a, b, wins)

    def _interval(self, trial: Trial) -> tuple[np.ndarray, np.ndarray]:
        return to_min_intervals(self.objectives, trial.metrics)

    def _set(self, trials: list[Trial]) -> None:
        self.trials = trials
        self._values = np.array([t.values for t in trials])


class TopFidelityArchive(ParetoArchive):
    """The front of the trials at the highest fidelity reached (a multi-fidelity schedule's).

    A trial at a lower fidelity never enters; the first at a higher one replaces the front with a
    fresh one, made by ``make`` and bound like this archive, so a 1-epoch accuracy never stands
    beside a 9-epoch one. Under a single fidelity it is the archive ``make`` builds.
    """

    def __init__(self, make: Callable[[], ParetoArchive] = ParetoArchive) -> None:  # holds no trials itself
        self.make = make
        self.inner = make()
        self.fidelity: float | None = None
        self._binding: tuple = ((), None)

    def bind(self, objectives: tuple[Objective, ...], remeasure: Remeasure | None = None) -> None:
        self._binding = (objectives, remeasure)
        self.inner.bind(objectives, remeasure)

    def add(self, trial: Trial) -> bool:
        if not trial.feasible or trial.fidelity is None:
            return False
        if self.fidelity is not None and trial.fidelity < self.fidelity:
            return False
        if self.fidelity is None or trial.fidelity > self.fidelity:
            self.inner, self.fidelity = self.make(), trial.fidelity
            self.inner.bind(*self._binding)
        return self.inner.add(trial)

    @property
    def trials(self) -> list[Trial]:  # type: ignore[override]
        return self.inner.trials

    @property
    def values(self) -> np.ndarray:
        return self.inner.values

    def __len__(self) -> int:
        return len(self.inner)
