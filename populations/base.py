"""The ask/tell interface every search strategy implements.

The driver owns evaluation, termination and persistence; a strategy only proposes genomes
(:meth:`Strategy.ask`) and learns from evaluated trials (:meth:`Strategy.tell`). It never
touches files or the clock, and all its randomness comes from the generator given to
:meth:`Strategy.setup`.
"""

from __future__ import annotations

import abc

import numpy as np

from evonas.objectives import Constraint
from evonas.problem import Problem, Proposal, SearchSpace, Trial


class Strategy(abc.ABC):
    """Base class: ``__init__`` only stores options; ``setup`` creates state.

    Required: :meth:`ask` and :meth:`tell`. ``ask`` may be called several times before the
    matching ``tell`` calls (parallel evaluation); trials are told in completion order.
    """

    name: str = "strategy"

    def setup(self, space: SearchSpace, n_objectives: int, rng: np.random.Generator) -> None:
        """Bind the strategy to a space and a generator; called once by the driver."""
        self.space_ = space
        self.n_objectives_ = n_objectives
        self.rng_ = rng

    def bind(self, problem: Problem) -> None:
        """Optional hook, called by the driver before :meth:`setup`: the problem being searched.

        For strategies that need training-free metrics of candidates before proposing them
        (:meth:`~evonas.problem.Problem.cheap_metrics`); the default ignores it.
        """

    def constrain(self, constraints: tuple[Constraint, ...]) -> None:
        """Optional hook, called by the driver before :meth:`setup`: the search's constraints.

        For strategies that concentrate the search near a bound or screen candidates with
        :meth:`~evonas.problem.Problem.cheap_metrics`; the default ignores it (every trial
        still carries its ``violation``).
        """

    @abc.abstractmethod
    def ask(self) -> Proposal:
        """The next genome to evaluate."""

    @abc.abstractmethod
    def tell(self, trial: Trial) -> None:
        """Learn from one evaluated (possibly failed) trial."""
