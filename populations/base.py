"""The ask/tell interface every search strategy implements.

The driver owns evaluation, termination and persistence; a strategy only proposes genomes
(:meth:`Strategy.ask`) and learns from evaluated trials (:meth:`Strategy.tell`). It never
touches files or the clock, and all its randomness comes from the generator given to
:meth:`Strategy.setup`.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Hashable, TypeVar

import numpy as np

from evonas.core.errors import UserError
from evonas.core.objectives import Constraint
from evonas.core.options import check_instance
from evonas.core.problem import Problem, Proposal, SearchSpace, Trial

T = TypeVar("T")


class Strategy(abc.ABC):
    """Base class: ``__init__`` only stores options; ``setup`` creates state.

    Required: :meth:`ask` and :meth:`tell`. ``ask`` may be called several times before the
    matching ``tell`` calls (parallel evaluation); trials are told in completion order.
    """

    name: str = "strategy"
    max_objectives: int | None = None
    """The most objectives this strategy handles (``None``: any number)."""
    problem_: Problem | None = None
    """The problem given to :meth:`bind` (``None`` until then)."""
    constraints_: tuple[Constraint, ...] = ()
    """The constraints given to :meth:`constrain` (none until then)."""

    def check(self, n_objectives: int) -> None:
        """Raise :class:`~evonas.core.errors.UserError` at start-up if an option lies outside its
        declared range or ``n_objectives`` is too many (the driver calls it before anything is written)."""
        check_instance(self)
        if self.max_objectives is not None and n_objectives > self.max_objectives:
            raise UserError(f"strategy {type(self).__name__} handles at most {self.max_objectives} objectives, "
                            f"the search has {n_objectives}; choose another strategy")

    def setup(self, space: SearchSpace, n_objectives: int, rng: np.random.Generator) -> None:
        """Bind the strategy to a space and a generator; called once by the driver."""
        self.space_ = space
        self.n_objectives_ = n_objectives
        self.rng_ = rng

    def bind(self, problem: Problem) -> None:
        """Optional hook, called by the driver before :meth:`setup`: the problem being searched.

        For strategies that need training-free metrics of candidates before proposing them
        (:meth:`~evonas.core.problem.Problem.cheap_metrics`); the default keeps it as ``problem_``.
        """
        self.problem_ = problem

    def constrain(self, constraints: tuple[Constraint, ...]) -> None:
        """Optional hook, called by the driver before :meth:`setup`: the search's constraints.

        For strategies that concentrate the search near a bound or screen candidates with
        :meth:`~evonas.core.problem.Problem.cheap_metrics`; the default keeps them as
        ``constraints_`` (every trial carries its ``violation`` either way).
        """
        self.constraints_ = tuple(constraints)

    def parent_ids(self) -> set[int]:
        """Trials whose trained weights a later proposal may inherit (Lamarckian strategies).

        A run without a store keeps those weights in memory, and no others beyond the front's;
        the default, for strategies whose children never inherit weights, names none.
        """
        return set()

    @abc.abstractmethod
    def ask(self) -> Proposal:
        """The next genome to evaluate."""

    @abc.abstractmethod
    def tell(self, trial: Trial) -> None:
        """Learn from one evaluated (possibly failed) trial."""


def unseen(draw: Callable[[], T], seen: set, tries: int, key: Callable[[T], Hashable] | None = None) -> T:
    """The first of up to ``tries`` results of ``draw()`` not in ``seen``, else the last one.

    Args:
        draw: makes one candidate (a genome, or what ``key`` turns into one); called once per try.
        seen: genomes already proposed or told; the result's genome is added to it.
        tries: the most draws (at least one).
        key: the genome a drawn value stands for (default: the value itself).

    Returns:
        The accepted draw, unseen unless every try landed on a seen genome.
    """
    genome_of: Callable[[Any], Hashable] = key or (lambda value: value)
    for _ in range(tries):
        value = draw()
        if genome_of(value) not in seen:
            break
    seen.add(genome_of(value))
    return value
