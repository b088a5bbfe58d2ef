"""Pareto ranking and the archives of non-dominated trials (sorting and HV from pymoo).

:class:`ParetoArchive` keeps the trials no other trial dominates. :class:`NoiseAwareArchive`
does the same with measured objectives compared as intervals (``--noise-aware``): a trial
beats another on latency only where their intervals separate, and before a member is dropped
on the strength of overlapping intervals, both are measured again side by side.
"""

from __future__ import annotations

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.operators.survival.rank_and_crowding.metrics import get_crowding_function
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting, find_non_dominated

import dataclasses
from typing import Callable, Mapping, Sequence

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
