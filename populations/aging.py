"""Multi-objective regularized (aging) evolution (Real et al., 2019, extended to Pareto ranking)."""

from __future__ import annotations

from collections import deque
from typing import Annotated, Any, Protocol, runtime_checkable

import numpy as np

from evonas.core.problem import Proposal, Trial
from evonas.core.pareto import crowding_distance, pareto_rank
from evonas.core.options import Range
from populations.base import Strategy, unseen


@runtime_checkable
class HasNeighbours(Protocol):
    """A space that can list every genome one mutation away (small discrete spaces)."""

    def neighbours(self, genome: Any) -> list: ...


class AgingEvolution(Strategy):
    """Regularized evolution with a Pareto tournament.

    The population is the ``population`` most recent successful trials (a FIFO: the
    oldest dies when a child arrives). Until it is full, proposals are random. Afterwards a
    tournament draws ``sample_size`` members without replacement; members are ranked over
    the whole population by constrained Pareto rank, then by crowding distance, and the
    best sampled member is mutated.

    No evaluation is spent on a genome already proposed: on a space that lists its
    neighbours (:class:`HasNeighbours`, e.g. NB201) the child is drawn uniformly from the
    parent's unseen neighbours, and when there are none the tournament is re-run (up to
    ``max_retries`` times) before falling back to a two-step mutation; on other spaces a
    mutation landing on a seen genome is redrawn up to ``max_retries`` times.

    Args:
        population: P, the number of living individuals.
        sample_size: S, the tournament size.
        max_retries: redraws of a mutation (or tournaments) that land on seen genomes.
    """

    name = "aging"

    def __init__(
        self,
        population: Annotated[int, Range(2, 10_000)] = 10,
        sample_size: Annotated[int, Range(1, 10_000)] = 3,
        max_retries: Annotated[int, Range(1, 1_000_000)] = 10,
    ):
        self.population = population
        self.sample_size = sample_size
        self.max_retries = max_retries

    def setup(self, space, n_objectives, rng) -> None:
        super().setup(space, n_objectives, rng)
        self.population_: deque[Trial] = deque(maxlen=self.population)
        self.seen_: set = set()
        self.asked_ = 0
        self._ranking = None
        self._neighbourly = isinstance(space, HasNeighbours)  # protocol checks are slow; once

    def ask(self) -> Proposal:
        self.asked_ += 1
        if self.asked_ <= self.population or len(self.population_) < 2:
            return Proposal(unseen(lambda: self.space_.sample(self.rng_), self.seen_, self.max_retries), None, "random")
        if self._neighbourly:
            return self._neighbour_child()
        parent = self._tournament()
        holder: list[str] = []

        def child():
            genome, op = self.space_.mutate(parent.genome, self.rng_)
            holder.append(op)
            return genome

        genome = unseen(child, self.seen_, self.max_retries)
        return Proposal(genome, parent.id, holder[-1])

    def _neighbour_child(self) -> Proposal:
        for _ in range(self.max_retries):
            parent = self._tournament()
            fresh = [g for g in self.space_.neighbours(parent.genome) if g not in self.seen_]
            if fresh:
                genome = fresh[int(self.rng_.integers(len(fresh)))]
                self.seen_.add(genome)
                return Proposal(genome, parent.id, "mutate_neighbour")
        step, _ = self.space_.mutate(parent.genome, self.rng_)
        genome = unseen(lambda: self.space_.mutate(step, self.rng_)[0], self.seen_, self.max_retries)
        return Proposal(genome, parent.id, "mutate_twice")

    def _tournament(self) -> Trial:
        """Best of ``sample_size`` random members: lowest Pareto rank, then largest crowding.

        Ranks are computed once per population change; crowding distance only for the one
        front whose members tie for the best rank in this tournament (it is all that matters).
        """
        members = self.population_
        if self._ranking is None:
            self._values = np.array([t.values for t in members])
            self._ranking = (pareto_rank(self._values, np.array([t.violation for t in members])), {})
        rank, crowd_by_rank = self._ranking
        picks = self.rng_.choice(len(members), size=min(self.sample_size, len(members)), replace=False)
        best_rank = rank[picks].min()
        tied = picks[rank[picks] == best_rank]
        if len(tied) == 1:
            return members[tied[0]]
        if best_rank not in crowd_by_rank:
            front = np.flatnonzero(rank == best_rank)
            crowd = np.zeros(len(members))
            crowd[front] = crowding_distance(self._values[front])
            crowd_by_rank[best_rank] = crowd
        return members[tied[int(np.argmax(crowd_by_rank[best_rank][tied]))]]

    def tell(self, trial: Trial) -> None:
        self.seen_.add(trial.genome)
        if trial.ok:
            self.population_.append(trial)
            self._ranking = None
