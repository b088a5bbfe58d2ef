"""Multi-objective regularized (aging) evolution (Real et al., 2019, extended to Pareto ranking)."""

from __future__ import annotations

from collections import deque

import numpy as np

from evonas.problem import Proposal, Trial
from populations.archive import better, rank_and_crowding
from populations.base import Strategy


class AgingEvolution(Strategy):
    """Regularized evolution with a Pareto tournament.

    The population is the ``population_size`` most recent successful trials (a FIFO: the
    oldest dies when a child arrives). Until it is full, proposals are random. Afterwards a
    tournament draws ``sample_size`` members without replacement; members are ranked over
    the whole population by constrained Pareto rank, then by crowding distance, and the
    best sampled member is mutated. Mutations that would repeat a genome already evaluated
    are redrawn up to ``max_retries`` times, so evaluations are not spent on known points.

    Args:
        population_size: P, the number of living individuals.
        sample_size: S, the tournament size.
        max_retries: redraws of a mutation that lands on an already seen genome.
    """

    name = "aging"

    def __init__(self, population_size: int = 50, sample_size: int = 10, max_retries: int = 10):
        self.population_size = population_size
        self.sample_size = sample_size
        self.max_retries = max_retries

    def setup(self, space, n_objectives, rng) -> None:
        super().setup(space, n_objectives, rng)
        self.population_: deque[Trial] = deque(maxlen=self.population_size)
        self.seen_: set = set()
        self.asked_ = 0
        self._ranking = None

    def ask(self) -> Proposal:
        self.asked_ += 1
        if self.asked_ <= self.population_size or len(self.population_) < 2:
            return Proposal(self._unseen(lambda: self.space_.sample(self.rng_)), None, "random")
        parent = self._tournament()
        holder: list[str] = []

        def child():
            genome, op = self.space_.mutate(parent.genome, self.rng_)
            holder.append(op)
            return genome

        genome = self._unseen(child)
        return Proposal(genome, parent.id, holder[-1])

    def _unseen(self, draw):
        for _ in range(self.max_retries):
            genome = draw()
            if genome not in self.seen_:
                break
        self.seen_.add(genome)
        return genome

    def _tournament(self) -> Trial:
        members = list(self.population_)
        if self._ranking is None:
            values = np.array([t.values for t in members])
            self._ranking = rank_and_crowding(values, np.array([t.violation for t in members]))
        rank, crowd = self._ranking
        picks = self.rng_.choice(len(members), size=min(self.sample_size, len(members)), replace=False)
        best = picks[0]
        for i in picks[1:]:
            if better(rank, crowd, i, best):
                best = i
        return members[best]

    def tell(self, trial: Trial) -> None:
        self.seen_.add(trial.genome)
        if trial.ok:
            self.population_.append(trial)
            self._ranking = None
