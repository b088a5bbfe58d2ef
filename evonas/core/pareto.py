"""Pareto ranking and the archive of non-dominated trials (sorting and HV from pymoo)."""

from __future__ import annotations

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.operators.survival.rank_and_crowding.metrics import get_crowding_function
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting, find_non_dominated

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


class ParetoArchive:
    """The feasible, non-dominated trials seen so far (exact duplicates in objective space kept once)."""

    def __init__(self) -> None:
        self.trials: list[Trial] = []
        self._values = np.empty((0, 0))

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
