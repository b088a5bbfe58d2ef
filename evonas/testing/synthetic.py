"""A small deterministic synthetic problem for tests: no data files, no torch.

:class:`SyntheticSpace` has ``positions`` positions of ``choices`` values each (by default
6 x 4: 4,096 genomes), small enough to enumerate, with every one-position change listed by
:meth:`SyntheticSpace.neighbours`. :class:`SyntheticProblem` maximises an ``accuracy`` that
grows, with diminishing returns, with a weighted "capacity" of the genome, and minimises
k - 1 cost metrics (``params``, ``flops``, ``latency_ms``, then ``cost_4``, ...), each a
different positive weighted sum of the choices, so the costs conflict with the accuracy and
with each other. The costs are training-free (:meth:`SyntheticProblem.cheap_metrics`).

Every metric of every genome is computed once, when the problem is made, so the bounds
are the space's true minimum and maximum and :meth:`SyntheticProblem.reference_hypervolume`
is the best hypervolume any search can reach. Faults are injected deterministically by
genome: ``fail_every`` makes :meth:`~SyntheticProblem.evaluate` raise, ``nan_every`` makes it
return a NaN accuracy.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from evonas.core.errors import UserError
from evonas.problems.grid import IntegerGenome, IntegerSpace
from evonas.problems.noise import MeasurementNoise
from evonas.core.objectives import Constraint, Objective, check_against_table, interval_names
from evonas.core.pareto import hypervolume, pareto_rank
from evonas.core.problem import Evaluation, Problem, Proposal

COST_NAMES = ("params", "flops", "latency_ms")
"""Names of the first three cost objectives; further ones are ``cost_4``, ``cost_5``, ..."""

_ACCURACY_WEIGHTS = (1.0, 0.8, 0.6, 0.9, 0.7, 0.5)
_COST_WEIGHTS = (
    (3.0, 2.0, 1.0, 0.5, 0.5, 0.5),  # params: the first positions
    (0.5, 0.5, 1.0, 2.0, 3.0, 1.0),  # flops: the last positions
    (1.0, 3.0, 0.5, 1.0, 0.5, 2.0),  # latency_ms: scattered
)


SyntheticGenome = IntegerGenome
SyntheticSpace = IntegerSpace


def cost_names(n_costs: int) -> tuple[str, ...]:
    """The names of the first ``n_costs`` cost objectives."""
    return tuple(COST_NAMES[i] if i < len(COST_NAMES) else f"cost_{i + 1}" for i in range(n_costs))


def _weights(j: int, positions: int, table: Sequence[Sequence[float]] = _COST_WEIGHTS) -> np.ndarray:
    """Weights of cost ``j`` over the positions (fixed for the first three, a fixed pattern after)."""
    if j < len(table) and positions == len(table[j]):
        return np.asarray(table[j], dtype=float)
    return 0.5 + 0.5 * ((np.arange(positions) * (j + 3) + j) % 5)


class SyntheticProblem(Problem):
    """Maximise ``accuracy`` and minimise ``n_objectives - 1`` conflicting costs of a synthetic space.

    ``accuracy = 0.95 - 0.5 exp(-capacity / 4) - 0.015 (x_2 - 2)^2 / (c - 1)^2`` where
    ``capacity`` is a positive weighted sum of the choices ``x`` (``c`` choices per
    position), so accuracy grows with diminishing returns, except at position 2 where a
    middle value is best. Cost ``j`` is ``1 + w_j . x`` with positive weights that differ per
    cost (plus ``0.1 x_0 x_1`` for ``params``).

    Args:
        n_objectives: number of objectives k (at least 2): accuracy and k - 1 costs.
        fail_every: genomes whose code (:meth:`SyntheticGenome.code`) is a multiple of it
            raise in :meth:`evaluate` (0: none).
        nan_every: genomes whose code plus one is a multiple of it get a NaN accuracy (0: none).
        positions: positions of the space.
        choices: values of each position.
        crash_every: genomes whose code plus two is a multiple of it end the process evaluating
            them (``os._exit``), as a segfault or the out-of-memory killer would; only for
            evaluation in worker processes (0: none).
        hang_every: genomes whose code plus three is a multiple of it sleep ``hang_seconds``,
            for trial timeouts (0: none).
        hang_seconds: how long a hanging genome sleeps.
        oom_every: genomes whose code plus four is a multiple of it ask for an array of 2**50
            bytes, which no machine has: a real ``MemoryError`` (0: none).
        delay: seconds an evaluation takes: ``delay * (1 + code % 4)``, so durations differ
            by genome (0: instant).
        latency_noise: report the costs as a noisy machine measures them: lognormal noise of
            this sigma, with intervals, and :meth:`remeasure` side by side (0: exact).
        unbounded_costs: declare no bounds for the costs, as a metric known only after
            training would: the hypervolume is then relative to the range seen.

    Under a schedule (a :attr:`~evonas.core.problem.Proposal.budget` of ``f`` epochs planned over
    ``F``) the accuracy follows a learning curve: ``accuracy * (1 - 0.4 (1 - f/F) (0.5 + s))``
    with ``s`` the genome's capacity scaled to [0, 1], so larger networks learn more slowly and a
    low rung ranks genomes only roughly as the top one does.
    """

    fidelities = ()

    def __init__(self, n_objectives: int = 2, fail_every: int = 0, nan_every: int = 0,
                 positions: int = 6, choices: int = 4, crash_every: int = 0, hang_every: int = 0,
                 hang_seconds: float = 3600.0, delay: float = 0.0, oom_every: int = 0, latency_noise: float = 0.0,
                 unbounded_costs: bool = False):
        if n_objectives < 2:
            raise UserError(f"the synthetic problem needs at least 2 objectives, got {n_objectives}")
        if min(fail_every, nan_every, crash_every, hang_every, oom_every) < 0 or delay < 0:
            raise UserError("fault periods and delay must be >= 0 (0: no faults)")
        self.space = SyntheticSpace(positions, choices)
        self.n_objectives = n_objectives
        self.fail_every = fail_every
        self.nan_every = nan_every
        self.crash_every = crash_every
        self.hang_every = hang_every
        self.hang_seconds = hang_seconds
        self.oom_every = oom_every
        self.delay = delay
        self.noise = MeasurementNoise(latency_noise) if latency_noise else None
        self.unbounded_costs = unbounded_costs
        self.cost_columns = cost_names(n_objectives - 1)
        self.objectives = (Objective.maximize("accuracy"),
                           *(Objective.minimize(c, training_free=True) for c in self.cost_columns))
        genomes = self.space.genomes()
        x = np.array([g.choices for g in genomes], dtype=float)
        self.table_ = self._metrics(x)
        self.closed = False

    # -- the metrics of every genome -------------------------------------------------------
    def _metrics(self, x: np.ndarray) -> dict[str, np.ndarray]:
        positions, top = x.shape[1], self.space.choices - 1
        accuracy_weights = np.asarray(_ACCURACY_WEIGHTS if positions == len(_ACCURACY_WEIGHTS)
                                      else 0.5 + 0.1 * (np.arange(positions) % 6), dtype=float)
        capacity = (x @ accuracy_weights) * 3.0 / top
        self.slowness_ = (capacity - capacity.min()) / max(np.ptp(capacity), 1e-12)
        middle = x[:, min(2, positions - 1)] / top * 3.0
        metrics = {"accuracy": 0.95 - 0.5 * np.exp(-capacity / 4.0) - 0.015 * (middle - 2.0) ** 2 / 9.0}
        for j, name in enumerate(self.cost_columns):
            cost = 1.0 + x @ _weights(j, positions)
            if name == "params" and positions >= 2:
                cost = cost + 0.1 * x[:, 0] * x[:, 1]
            metrics[name] = cost
        return metrics

    def values(self) -> np.ndarray:
        """Every genome's objectives in minimisation form, rows in :meth:`SyntheticGenome.code` order."""
        return np.column_stack([o.direction.value * self.table_[o.name] for o in self.objectives])

    def _code(self, genome: SyntheticGenome) -> int:
        return genome.code(self.space.choices)

    # -- Problem --------------------------------------------------------------------------
    def metric_names(self) -> frozenset[str]:
        if self.noise is None:
            return frozenset(self.table_)
        return frozenset(self.table_) | {n for c in self.cost_columns for n in interval_names(c)}

    def evaluate(self, proposal: Proposal) -> Evaluation:
        """The genome's metrics; raises or returns a NaN accuracy for genomes chosen by the fault options."""
        genome = proposal.genome
        code = self._code(genome)
        if self.fail_every and code % self.fail_every == 0:
            raise RuntimeError(f"injected failure: genome {genome} has code {code}, a multiple of {self.fail_every}")
        if self.crash_every and (code + 2) % self.crash_every == 0:
            os._exit(70)
        if self.hang_every and (code + 3) % self.hang_every == 0:
            time.sleep(self.hang_seconds)
        if self.oom_every and (code + 4) % self.oom_every == 0:
            np.ones(1 << 50, dtype=np.uint8)
        if self.delay:
            time.sleep(self.delay * (1 + code % 4))
        metrics = {name: float(column[code]) for name, column in self.table_.items()}
        budget = proposal.budget
        if budget is not None:
            metrics["accuracy"] *= 1 - 0.4 * (1 - budget.fidelity / budget.planned) * (0.5 + self.slowness_[code])
        if self.nan_every and (code + 1) % self.nan_every == 0:
            metrics["accuracy"] = float("nan")
        if self.noise is not None:
            metrics.update(self.noise.measured(self._costs(code), [proposal.seed or 0, code]))
        return Evaluation(metrics, None if budget is None else budget.fidelity)

    def _costs(self, code: int) -> dict[str, float]:
        return {c: float(self.table_[c][code]) for c in self.cost_columns}

    def remeasure(self, genomes: Sequence[Any], seed: int) -> list[dict[str, float]] | None:
        """With ``latency_noise``: the costs of ``genomes`` measured again side by side."""
        if self.noise is None:
            return None
        return self.noise.remeasured([self._costs(self._code(g)) for g in genomes], seed)

    def cheap_metrics(self, genome: Any, names: Sequence[str]) -> dict[str, float]:
        """The costs are training-free; the accuracy is not."""
        code = self._code(genome)
        return {c: float(self.table_[c][code]) for c in self.cost_columns if c in names}

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The true min and max of each objective (minimisation form) over the whole space; NaN for
        the costs with ``unbounded_costs``."""
        lower, upper = self.table_bounds()
        if self.unbounded_costs:
            lower[1:], upper[1:] = np.nan, np.nan
        return lower, upper

    def table_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The true min and max of each objective (minimisation form) over the whole space."""
        values = self.values()
        return values.min(axis=0), values.max(axis=0)

    def true_front(self) -> np.ndarray:
        """The distinct non-dominated objective vectors of the whole space (minimisation form)."""
        values = self.values()
        return np.unique(values[pareto_rank(values) == 0], axis=0)

    def reference_hypervolume(self) -> float:
        """Hypervolume of :meth:`true_front` scaled by :meth:`table_bounds`: the best any search can reach."""
        return hypervolume(self.true_front(), *self.table_bounds())

    def is_faulty(self, genome: SyntheticGenome) -> bool:
        """Whether ``genome`` fails: :meth:`evaluate` raises, returns NaN, crashes or hangs."""
        return self.fault(genome) is not None

    def fault(self, genome: SyntheticGenome) -> str | None:
        """Which fault ``genome`` is given: 'raise', 'crash', 'hang', 'oom', 'nan', or None."""
        code = self._code(genome)
        for kind, every, offset in (("raise", self.fail_every, 0), ("crash", self.crash_every, 2),
                                    ("hang", self.hang_every, 3), ("oom", self.oom_every, 4),
                                    ("nan", self.nan_every, 1)):
            if every and (code + offset) % every == 0:
                return kind
        return None

    def check_constraints(self, constraints: Sequence[Constraint]) -> None:
        """Raise :class:`UserError` if a constraint names an unknown metric or no genome meets them all."""
        self.check_metric_names(constraints)
        check_against_table(constraints, self.table_)

    def describe(self) -> dict[str, Any]:
        return {"problem": "synthetic", "n_objectives": self.n_objectives, "fail_every": self.fail_every,
                "nan_every": self.nan_every, "positions": self.space.positions, "choices": self.space.choices}

    def close(self) -> None:
        self.closed = True
