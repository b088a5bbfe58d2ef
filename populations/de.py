"""Multi-objective differential evolution in the DE-NAS style (Awad et al., 2021).

Each individual is a continuous vector in [0, 1]^d; position i decodes to choice
``floor(v_i * n_i)`` of the space's i-th integer choice (:meth:`SearchSpace.cardinalities`,
:meth:`SearchSpace.decode`). Children come from rand/1/bin and a generation's survivors
are chosen from parents and children by Pareto rank, then crowding distance.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from evonas.core.problem import Proposal, Trial
from evonas.core.pareto import rank_and_crowding
from evonas.core.options import Range
from populations.base import Strategy, unseen


class DifferentialEvolution(Strategy):
    """DE rand/1/bin on the continuous encoding, with (mu + lambda) rank-and-crowding survival.

    The first ``population`` proposals are random vectors. Afterwards each child is
    built for the next target vector x_i in turn: mutant = x_r1 + F (x_r2 - x_r3) with
    r1, r2, r3 distinct and different from i; values leaving [0, 1] are redrawn uniformly
    (DE-NAS's boundary rule); binomial crossover with x_i takes each mutant position with
    probability ``crossover_rate`` and at least one. When ``population`` children
    have been told, parents and children compete and the best ``population``
    survive. A child decoding to a genome already proposed is rebuilt (new r1, r2, r3)
    up to ``max_retries`` times, so evaluations are rarely spent on known points.

    Trials this strategy did not propose (user-given initial genomes, operator 'init') are
    adopted at the centre of their genome's cell of [0, 1]^d: into the population while it
    is filling, else as immigrants that compete in the next survival without counting as
    one of its children. Survival works with any number of objectives.

    Args:
        population: number of vectors in the population (at least 4).
        mutation_factor: F, the scale of the difference vector.
        crossover_rate: CR, the probability of taking a mutant position.
        max_retries: rebuilds of a child that repeats a known genome.
    """

    name = "de"

    def __init__(
        self,
        population: Annotated[int, Range(4, 10_000)] = 10,
        mutation_factor: Annotated[float, Range(0, 2)] = 0.5,
        crossover_rate: Annotated[float, Range(0, 1)] = 0.5,
        max_retries: Annotated[int, Range(1, 1_000_000)] = 10,
    ):
        self.population = population
        self.mutation_factor = mutation_factor
        self.crossover_rate = crossover_rate
        self.max_retries = max_retries

    def setup(self, space, n_objectives, rng) -> None:
        super().setup(space, n_objectives, rng)
        self.cardinalities_ = np.asarray(space.cardinalities())
        self.population_: list[tuple[np.ndarray, Trial]] = []
        self.offspring_: list[tuple[np.ndarray, Trial]] = []
        self.immigrants_: list[tuple[np.ndarray, Trial]] = []  # told trials not proposed here
        self.pending_: dict = {}
        self.seen_: set = set()
        self.asked_ = 0
        self.target_ = 0

    def decode(self, vector: np.ndarray):
        """The genome a vector in [0, 1]^d stands for."""
        choices = np.minimum((vector * self.cardinalities_).astype(np.int64), self.cardinalities_ - 1)
        return self.space_.decode(choices)

    def ask(self) -> Proposal:
        self.asked_ += 1
        if self.asked_ <= self.population or len(self.population_) < 4:
            draw, operator = (lambda: self.rng_.random(len(self.cardinalities_))), "random"
        else:
            target = self.target_ % len(self.population_)
            self.target_ += 1
            draw, operator = (lambda: self._child(target)), "de_rand1bin"
        vector = unseen(draw, self.seen_, self.max_retries, key=self.decode)
        genome = self.decode(vector)
        self.pending_.setdefault(genome, []).append(vector)
        return Proposal(genome, None, operator)

    def _child(self, target: int) -> np.ndarray:
        others = [i for i in range(len(self.population_)) if i != target]
        r1, r2, r3 = self.rng_.choice(others, size=3, replace=False)
        x = [self.population_[i][0] for i in (r1, r2, r3)]
        mutant = x[0] + self.mutation_factor * (x[1] - x[2])
        outside = (mutant < 0) | (mutant > 1)
        mutant[outside] = self.rng_.random(int(outside.sum()))
        take = self.rng_.random(len(mutant)) < self.crossover_rate
        take[int(self.rng_.integers(len(mutant)))] = True
        return np.where(take, mutant, self.population_[target][0])

    def tell(self, trial: Trial) -> None:
        self.seen_.add(trial.genome)
        vectors = self.pending_.get(trial.genome)
        if not vectors:
            if trial.ok:  # not proposed by this strategy (e.g. a user-given initial genome)
                self._adopt(trial)
            return
        vector = vectors.pop(0)
        if not vectors:
            del self.pending_[trial.genome]
        if not trial.ok:
            return
        if len(self.population_) < self.population and not self.offspring_:
            self.population_.append((vector, trial))
            return
        self.offspring_.append((vector, trial))
        if len(self.offspring_) >= self.population:
            self._survive()

    def _adopt(self, trial: Trial) -> None:
        """Take in a trial proposed elsewhere, at the centre of its genome's cell (no randomness used)."""
        vector = (np.asarray(self.space_.encode(trial.genome), dtype=float) + 0.5) / self.cardinalities_
        if len(self.population_) < self.population and not self.offspring_:
            self.population_.append((vector, trial))
        else:
            self.immigrants_.append((vector, trial))

    def _survive(self) -> None:
        pool = self.population_ + self.offspring_ + self.immigrants_
        rank, crowd = rank_and_crowding(np.array([t.values for _, t in pool]), np.array([t.violation for _, t in pool]))
        order = np.lexsort((-crowd, rank))
        self.population_ = [pool[i] for i in order[:self.population]]
        self.offspring_ = []
        self.immigrants_ = []
