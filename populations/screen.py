"""A training-free screen in front of any strategy: draw several proposals, train only the best.

Zero-cost proxies score an untrained network in about a second (:mod:`evonas.mobilenet.proxies`);
Abdelfattah et al. (2021, "Zero-Cost Proxies for Lightweight NAS", ICLR) use them this way as a
"move proposal": of several candidate children, the one the proxy ranks best is evaluated.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from evonas.core.errors import UserError
from evonas.core.objectives import Constraint, Objective
from evonas.core.options import Range
from evonas.core.problem import Problem, Proposal, SearchSpace, Trial, TrialState
from populations.base import Strategy
from populations.training_free import best_index, require_training_free


class Screened(Strategy):
    """``inner``, screened: each ask draws ``k`` proposals from it, scores their untrained networks on
    ``objective`` (:meth:`~evonas.core.problem.Problem.training_free`) and hands out the best.

    The other ``k - 1`` are told back to ``inner`` at once as failed trials (error "screened out
    by NAME", ids -1, -2, ...: never stored, never evaluated, never in the front), so a strategy
    that waits for every proposal it made (a generation) is never left waiting, and one that
    remembers what it proposed does not propose them again. Ties go to the earlier draw. With
    several workers, the screen runs in the driver while the workers train.

    Args:
        inner: the strategy being screened.
        objective: a training-free objective with a source, e.g. ``evonas.mobilenet.proxies.objective("nwot")``.
        k: proposals drawn per candidate trained.
    """

    def __init__(self, inner: Strategy, objective: Objective, k: Annotated[int, Range(1, 1000)] = 8):
        self.inner = inner
        self.objective = objective
        self.k = k
        self.name = f"{inner.name}+screen"
        self.max_objectives = inner.max_objectives

    def check(self, n_objectives: int) -> None:
        """Refuse a screen of fewer than one proposal or by an objective it cannot compute, then check ``inner``."""
        if not 1 <= self.k <= 1000:
            raise UserError(f"a screen draws 1 to 1000 proposals per candidate, got {self.k}")
        require_training_free(self.objective, "a screen")
        self.inner.check(n_objectives)

    def bind(self, problem: Problem) -> None:
        require_training_free(self.objective, "a screen", problem)
        super().bind(problem)
        self.inner.bind(problem)

    def constrain(self, constraints: tuple[Constraint, ...]) -> None:
        super().constrain(constraints)
        self.inner.constrain(constraints)

    def setup(self, space: SearchSpace, n_objectives: int, rng: np.random.Generator) -> None:
        super().setup(space, n_objectives, rng)
        self.inner.setup(space, n_objectives, rng)
        self.screened_out_ = 0

    def parent_ids(self) -> set[int]:
        return self.inner.parent_ids()

    def ask(self) -> Proposal:
        drawn = [self.inner.ask() for _ in range(self.k)]
        best = best_index(self.problem_.training_free([p.genome for p in drawn], self.objective), self.objective)
        for i, proposal in enumerate(drawn):
            if i != best:
                self.screened_out_ += 1
                self.inner.tell(Trial(-self.screened_out_, proposal.genome, proposal.parent_id, proposal.operator,
                                      TrialState.FAILED, {}, np.full(self.n_objectives_, np.nan),
                                      error=f"screened out by {self.objective.name}"))
        return drawn[best]

    def tell(self, trial: Trial) -> None:
        self.inner.tell(trial)

