"""pymoo's NSGA-II, run through pymoo's own ask/tell, as the external baseline.

Genomes use the space's integer encoding (:meth:`SearchSpace.cardinalities`); the
operators are pymoo's recipe for integer variables: random integer sampling, SBX and
polynomial mutation on floats rounded back to integers, duplicates eliminated.
"""

from __future__ import annotations

from typing import Annotated

from collections import deque

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.evaluator import Evaluator
from pymoo.core.population import Population
from pymoo.core.problem import Problem as PymooProblem
from pymoo.core.termination import NoTermination
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling
from pymoo.problems.static import StaticProblem

from evonas.core.problem import Proposal, Trial
from evonas.core.options import Range
from populations.base import Strategy

_FAILED = 1e12  # objective value pymoo sees for a failed candidate


class PymooNSGA2(Strategy):
    """NSGA-II from pymoo: each ``algorithm.ask()`` population is proposed one genome at a time.

    When every genome of a generation has been told, the objectives (minimisation form)
    and the constraint violation go back through ``algorithm.tell(infills=...)``. pymoo's
    generator is seeded from the strategy's. Genomes of a generation that decode to the
    same genome are evaluated once. Should the driver ask while a generation is still
    being evaluated (parallel workers), the extra proposals are uniform random samples
    outside pymoo's population.

    Successful trials outside pymoo's population (those extra samples, user-given initial
    genomes with operator 'init') are not lost: they join the next generation told to pymoo
    as extra infills, so they compete in its rank-and-crowding survival (its first one
    keeps them all). Any number of objectives works (pymoo's ``n_obj``).

    Args:
        population: NSGA-II's population (and offspring) size.
    """

    name = "nsga2"

    def __init__(self, population: Annotated[int, Range(2, 10_000)] = 10):
        self.population = population

    def setup(self, space, n_objectives, rng) -> None:
        super().setup(space, n_objectives, rng)
        cards = np.asarray(space.cardinalities())
        self.problem_ = PymooProblem(n_var=len(cards), n_obj=n_objectives, n_ieq_constr=1,
                                     xl=np.zeros(len(cards)), xu=cards - 1, vtype=int)
        self.algorithm_ = NSGA2(pop_size=self.population, sampling=IntegerRandomSampling(),
                                crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                                mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                                eliminate_duplicates=True)
        self.algorithm_.setup(self.problem_, seed=int(rng.integers(2**31)), termination=NoTermination())
        self.batch_ = None
        self.queue_: deque = deque()
        self.slots_: dict = {}
        self.foreign_: list[Trial] = []  # told trials outside pymoo's population, for its next survival

    def ask(self) -> Proposal:
        if not self.queue_ and not self.slots_:
            self._next_generation()
        if not self.queue_:
            return Proposal(self.space_.sample(self.rng_), None, "random")
        return Proposal(self.queue_.popleft(), None, "nsga2")

    def _next_generation(self) -> None:
        self.batch_ = self.algorithm_.ask()
        X = np.round(self.batch_.get("X")).astype(np.int64)
        self.F_ = np.full((len(X), self.n_objectives_), np.nan)
        self.G_ = np.zeros((len(X), 1))
        for i, x in enumerate(X):
            genome = self.space_.decode(x)
            if genome not in self.slots_:
                self.queue_.append(genome)
            self.slots_.setdefault(genome, []).append(i)

    def tell(self, trial: Trial) -> None:
        rows = self.slots_.pop(trial.genome, None)
        if rows is None:  # outside pymoo's population: an extra sample or a user-given genome
            if trial.ok:
                self.foreign_.append(trial)
            return
        self.F_[rows] = trial.values if trial.ok else _FAILED
        self.G_[rows] = trial.violation
        if not self.slots_:
            Evaluator().eval(StaticProblem(self.problem_, F=self.F_, G=self.G_), self.batch_)
            infills = self.batch_
            if self.foreign_:
                infills = Population.merge(infills, self._individuals(self.foreign_))
                self.foreign_ = []
            self.algorithm_.tell(infills=infills)

    def _individuals(self, trials: list[Trial]) -> Population:
        """Evaluated pymoo individuals for trials told from outside its population."""
        X = np.array([self.space_.encode(t.genome) for t in trials], dtype=float)
        F = np.array([t.values for t in trials], dtype=float)
        G = np.array([[t.violation] for t in trials], dtype=float)
        pop = Population.new("X", X)
        Evaluator().eval(StaticProblem(self.problem_, F=F, G=G), pop)
        return pop
