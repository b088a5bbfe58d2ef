"""Simulated latency measurement on a drifting machine, for table-backed problems.

A table holds each network's true cost; ``MeasurementNoise`` turns it into what a measurement
on a noisy machine would report: the value times lognormal noise, with an interval. It lets
noise-aware dominance (``--noise-aware``) be judged against the noise-free truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from evonas.core.errors import UserError
from evonas.core.objectives import interval_names

Z90 = 1.645  # the standard normal's 95th percentile: a 90% interval is mean +- Z90 sigma


@dataclass(frozen=True)
class MeasurementNoise:
    """Measured costs: the true cost times lognormal noise, with a 90% interval.

    A measurement reports the noisy value and its 90% interval, value x exp(+-1.645 sigma).
    (A real drift-compensated measurement reports the quartiles of its per-pair values, which
    on this machine span about a 90% interval of its run-to-run error: +-2% against a median
    difference of 1.5% between two runs.)

    Attributes:
        sigma: the noise of one measurement (0.2 is what raw timings spread here: two
            ``evonas profile`` runs differed by a median of 21%).
        side_by_side: the noise left when candidates are measured again side by side, drift
            compensated (0.01 is what :mod:`hardware.drift` reaches on CPU targets here).
    """

    sigma: float
    side_by_side: float = 0.01

    def __post_init__(self) -> None:
        if not (0 <= self.sigma < 5 and 0 <= self.side_by_side < 5):
            raise UserError(f"latency noise must be a sigma in [0, 5), got {self.sigma} and {self.side_by_side}")

    def measured(self, costs: Mapping[str, float], entropy: Sequence[int]) -> dict[str, float]:
        """``costs`` as one noisy measurement reports them (values and intervals)."""
        rng = np.random.default_rng(np.random.SeedSequence(list(entropy)))
        return {k: v for name, true in costs.items() for k, v in _measure(name, true, rng, self.sigma).items()}

    def remeasured(self, costs: Sequence[Mapping[str, float]], seed: int) -> list[dict[str, float]]:
        """Several candidates' ``costs`` measured again side by side (``side_by_side`` noise)."""
        rng = np.random.default_rng(seed)
        return [{k: v for name, true in c.items() for k, v in _measure(name, true, rng, self.side_by_side).items()}
                for c in costs]


def _measure(name: str, true: float, rng: np.random.Generator, sigma: float) -> dict[str, float]:
    value = float(true * np.exp(rng.normal(0.0, sigma)))
    low, high = interval_names(name)
    return {name: value, low: value * float(np.exp(-Z90 * sigma)), high: value * float(np.exp(Z90 * sigma))}
