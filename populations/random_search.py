"""Random search: the baseline every strategy must beat."""

from __future__ import annotations

from typing import Annotated

from evonas.core.problem import Proposal, Trial
from evonas.core.options import Range
from populations.base import Strategy


class RandomSearch(Strategy):
    """Uniform samples from the space, avoiding repeats where the space allows.

    Args:
        max_retries: draws tried for an unseen genome before accepting a repeat.
    """

    name = "random"

    def __init__(self, max_retries: Annotated[int, Range(1, 1_000_000)] = 20):
        self.max_retries = max_retries

    def setup(self, space, n_objectives, rng) -> None:
        super().setup(space, n_objectives, rng)
        self.seen_: set = set()

    def ask(self) -> Proposal:
        for _ in range(self.max_retries):
            genome = self.space_.sample(self.rng_)
            if genome not in self.seen_:
                break
        self.seen_.add(genome)
        return Proposal(genome, None, "random")

    def tell(self, trial: Trial) -> None:
        self.seen_.add(trial.genome)
