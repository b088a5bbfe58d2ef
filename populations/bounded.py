"""Bounded elite evolution: best feasible accuracy under a constraint such as ``latency <= 25 ms``.

With a bound on a cost, only the best feasible network matters and it lies just under the
bound, so a Pareto front spread over the whole cost range wastes evaluations. This strategy
keeps an elite of the best feasible trials on the unconstrained objective and proposes their
children, and it screens candidates with the problem's training-free metrics
(:meth:`~evonas.problem.Problem.cheap_metrics`, e.g. a latency lookup table) so that no
evaluation is spent on a network known to break the bound -- as OFA's own evolutionary
search does with its latency table, but with bounded redraws instead of an unbounded loop.
"""

from __future__ import annotations

import numpy as np

from evonas.objectives import Constraint
from evonas.problem import Problem, Proposal, Trial
from populations.base import Strategy


class BoundedEvolution(Strategy):
    """Elite mutation and crossover concentrated on the feasible region's best trials.

    The first ``n_init`` proposals are random. Afterwards a parent is drawn uniformly from
    the ``elite_size`` feasible trials best on the target objective (the first objective no
    constraint names, e.g. accuracy under a latency bound; before any feasible trial exists,
    the least-violating trials). With probability ``crossover`` the child starts as a uniform
    crossover of the parent and a second elite member; it then takes 1 to ``max_steps``
    random mutations. Each proposal draws up to ``tries`` such candidates and returns the
    first that is unseen and, by the metrics the problem knows without evaluating, feasible;
    failing that, the least-violating unseen draw (or the last draw).

    Args:
        n_init: random proposals before the elite is used.
        elite_size: how many of the best feasible trials are parents.
        max_steps: the most mutations applied to one child.
        crossover: probability of starting a child from a uniform crossover of two parents.
        tries: candidates drawn per proposal (bounds every loop).
    """

    name = "bounded"

    def __init__(self, n_init: int = 20, elite_size: int = 10, max_steps: int = 2, crossover: float = 0.8,
                 tries: int = 16):
        self.n_init = n_init
        self.elite_size = elite_size
        self.max_steps = max_steps
        self.crossover = crossover
        self.tries = tries

    def bind(self, problem: Problem) -> None:
        self.problem_ = problem

    def constrain(self, constraints: tuple[Constraint, ...]) -> None:
        self.constraints_ = tuple(constraints)

    def setup(self, space, n_objectives, rng) -> None:
        super().setup(space, n_objectives, rng)
        constraints = getattr(self, "constraints_", ())
        problem = getattr(self, "problem_", None)
        names = [o.name for o in problem.objectives] if problem is not None else []
        bounded = {c.name for c in constraints}
        self.target_ = next((i for i, name in enumerate(names) if name not in bounded), 0)
        self.elite_: list[Trial] = []
        self.seen_: set = set()
        self.asked_ = 0

    def ask(self) -> Proposal:
        self.asked_ += 1
        if self.asked_ <= self.n_init or not self.elite_:
            return Proposal(self._screened(lambda: self.space_.sample(self.rng_)), None, "random")
        parent = self.elite_[int(self.rng_.integers(len(self.elite_)))]
        mate = self.elite_[int(self.rng_.integers(len(self.elite_)))]
        cross = parent is not mate and self.rng_.random() < self.crossover
        genome = self._screened(lambda: self._child(parent, mate if cross else None))
        return Proposal(genome, parent.id, "crossover_mutate" if cross else "mutate")

    def _child(self, parent: Trial, mate: Trial | None):
        genome = parent.genome
        if mate is not None:
            a, b = self.space_.encode(parent.genome), self.space_.encode(mate.genome)
            genome = self.space_.decode(np.where(self.rng_.random(len(a)) < 0.5, a, b))
        for _ in range(1 + int(self.rng_.integers(self.max_steps))):
            genome, _ = self.space_.mutate(genome, self.rng_)
        return genome

    def _screened(self, draw):
        """The first unseen candidate known feasible, else the least-violating unseen one."""
        best, best_violation = None, np.inf
        for _ in range(self.tries):
            genome = draw()
            if genome in self.seen_:
                continue
            violation = self._known_violation(genome)
            if violation == 0.0:
                best = genome
                break
            if violation < best_violation:
                best, best_violation = genome, violation
        genome = best if best is not None else genome
        self.seen_.add(genome)
        return genome

    def _known_violation(self, genome) -> float:
        """Total violation of the constraints whose metric the problem knows without evaluating."""
        constraints = getattr(self, "constraints_", ())
        if not constraints or getattr(self, "problem_", None) is None:
            return 0.0
        metrics = self.problem_.cheap_metrics(genome, [c.name for c in constraints])
        return sum(c.violation(metrics) for c in constraints if c.name in metrics)

    def tell(self, trial: Trial) -> None:
        self.seen_.add(trial.genome)
        if not trial.ok:
            return
        self.elite_.append(trial)
        self.elite_.sort(key=lambda t: (t.violation, t.values[self.target_]))
        del self.elite_[self.elite_size:]
