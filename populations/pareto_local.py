"""Pareto local search: mutate the sparsest members of the front found so far, never repeating a genome."""

from __future__ import annotations

from typing import Annotated

import numpy as np

from evonas.core.problem import Proposal, Trial
from populations.aging import HasNeighbours
from evonas.core.pareto import ParetoArchive, rank_and_crowding
from evonas.core.options import Range
from populations.base import Strategy, unseen


class ParetoLocalSearch(Strategy):
    """Local search around the current Pareto front, steered to its sparse regions.

    The first ``n_init`` proposals are random. Afterwards the parent is the winner of a
    tournament of ``tournament_size`` members of the front found so far (the feasible
    non-dominated trials), won by the largest crowding distance, so the front's extremes
    and gaps are explored first; before any feasible trial exists the parent is the
    least-violating trial. The child is a uniformly drawn neighbour of the parent that
    was never proposed (spaces listing their neighbours, :class:`HasNeighbours`) or a
    mutation redrawn until unseen; a parent whose neighbourhood is exhausted loses the
    tournament to a fresh draw, up to ``max_retries`` times, then a two-step mutation is
    proposed.

    Args:
        n_init: random proposals before local search starts.
        tournament_size: front members drawn per parent selection.
        max_retries: tournaments or redraws tried before accepting a two-step mutation.
    """

    name = "pls"

    def __init__(
        self,
        n_init: Annotated[int, Range(1)] = 10,
        tournament_size: Annotated[int, Range(1, 10_000)] = 2,
        max_retries: Annotated[int, Range(1, 1_000_000)] = 10,
    ):
        self.n_init = n_init
        self.tournament_size = tournament_size
        self.max_retries = max_retries

    def setup(self, space, n_objectives, rng) -> None:
        super().setup(space, n_objectives, rng)
        self.front_ = ParetoArchive()
        self.least_violating_: Trial | None = None
        self.seen_: set = set()
        self.asked_ = 0
        self._crowding = None

    def ask(self) -> Proposal:
        self.asked_ += 1
        if self.asked_ <= self.n_init or (not len(self.front_) and self.least_violating_ is None):
            return Proposal(unseen(lambda: self.space_.sample(self.rng_), self.seen_, self.max_retries), None, "random")
        for _ in range(self.max_retries):
            parent = self._parent()
            genome, operator = self._child(parent)
            if genome is not None:
                self.seen_.add(genome)
                return Proposal(genome, parent.id, operator)
        step, _ = self.space_.mutate(parent.genome, self.rng_)
        genome = unseen(lambda: self.space_.mutate(step, self.rng_)[0], self.seen_, self.max_retries)
        return Proposal(genome, parent.id, "mutate_twice")

    def _parent(self) -> Trial:
        members = self.front_.trials
        if not members:
            return self.least_violating_
        if self._crowding is None:
            self._crowding = rank_and_crowding(self.front_.values)[1]
        picks = self.rng_.choice(len(members), size=min(self.tournament_size, len(members)), replace=False)
        return members[max(picks, key=lambda i: self._crowding[i])]

    def _child(self, parent: Trial):
        """An unseen child of ``parent`` and its operator, or (None, None) if none was found."""
        if isinstance(self.space_, HasNeighbours):
            fresh = [g for g in self.space_.neighbours(parent.genome) if g not in self.seen_]
            return (fresh[int(self.rng_.integers(len(fresh)))], "mutate_neighbour") if fresh else (None, None)
        for _ in range(self.max_retries):
            genome, operator = self.space_.mutate(parent.genome, self.rng_)
            if genome not in self.seen_:
                return genome, operator
        return None, None

    def tell(self, trial: Trial) -> None:
        self.seen_.add(trial.genome)
        if not trial.ok:
            return
        if self.front_.add(trial):
            self._crowding = None
        if not trial.feasible and (self.least_violating_ is None or trial.violation < self.least_violating_.violation):
            self.least_violating_ = trial
