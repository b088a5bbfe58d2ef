"""Multi-fidelity schedules: which candidate to train further, and how far.

Under a schedule the driver asks it before asking the strategy: a promotion (continue an
earlier rung's result to the next rung, from its checkpoint) comes first; otherwise the
strategy's new candidate starts at the bottom rung. Every rung's result is its own trial
(operator ``promote``, its parent the rung it continues), stored and told to the strategy like
any other; the front holds only the trials at the highest fidelity reached
(:class:`~evonas.core.pareto.TopFidelityArchive`).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np

from evonas.core.errors import UserError
from evonas.core.options import Range, check_fields
from evonas.core.pareto import rank_and_crowding
from evonas.core.problem import Budget, Problem, Trial

PROMOTE = "promote"
"""The operator of a trial that continues an earlier rung of the same candidate."""


class Schedule(abc.ABC):
    """Decides each new candidate's first budget and which results are trained further."""

    @abc.abstractmethod
    def start(self, problem: Problem) -> None:
        """Lay out the rungs for ``problem``; raise :class:`UserError` if it takes no budget."""

    @abc.abstractmethod
    def first(self) -> Budget:
        """The budget of a new candidate (the bottom rung)."""

    @abc.abstractmethod
    def promote(self) -> tuple[Trial, Budget] | None:
        """The result to continue now and its next budget (recorded as promoted), or None."""

    @abc.abstractmethod
    def tell(self, trial: Trial) -> None:
        """Record a finished trial at its rung (``trial.fidelity``)."""

    @abc.abstractmethod
    def promotable(self) -> set[int]:
        """Trials that may still be promoted: their checkpoints must be kept."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """A JSON-able description, stored with the run."""


@dataclass
class ASHA(Schedule):
    """Asynchronous successive halving (Li et al., 2020, "A System for Massively Parallel
    Hyperparameter Tuning") over training epochs, with several objectives.

    Rungs lie at ``max_epochs / eta**k`` for k = K..0, the lowest at or above ``min_epochs`` (on
    a table, its fidelities between the two). Whenever a worker is free the highest rung with
    a result in its top ``1/eta`` not yet promoted gives that result to the next rung; else a
    new candidate starts at the bottom. No rung waits to fill. The top ``1/eta`` of a rung:
    its results ranked by constrained non-dominated sorting (feasible before infeasible, those
    by violation), ties inside a front broken by larger crowding distance (the front's extremes
    first), then by the earlier trial; failed results are never promoted and not counted. A
    promoted candidate continues from its checkpoint; the learning-rate schedule is laid out
    over ``max_epochs``. A rung is a fraction of a candidate's own training: a problem may
    train a candidate whose own training is shorter (a LEMONADE child's fine-tune) that fraction
    of it, and report the epochs it really trained as :attr:`Evaluation.cost`, which an epoch
    budget counts (:func:`cost`).

    Args:
        min_epochs: the lowest rung's budget (at least).
        max_epochs: the top rung's budget: the most any candidate trains.
        eta: the reduction factor: rungs are ``eta`` times apart and 1/eta of a rung is promoted.
    """

    min_epochs: Annotated[float, Range(0, 1e6, exclusive=True)] = 1.0
    max_epochs: Annotated[float, Range(0, 1e6, exclusive=True)] = 9.0
    eta: Annotated[float, Range(1, 1e3, exclusive=True)] = 3.0
    levels_: tuple[float, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.min_epochs > self.max_epochs:
            raise UserError(f"ASHA needs min_epochs <= max_epochs, got {self.min_epochs:g} > {self.max_epochs:g}")

    def rungs(self, fidelities: tuple[float, ...] = ()) -> tuple[float, ...]:
        """The rungs' budgets, lowest first, for a problem taking ``fidelities`` (``()``: any)."""
        if fidelities:
            return tuple(f for f in sorted(fidelities) if self.min_epochs <= f <= self.max_epochs)
        k = math.floor(math.log(self.max_epochs / self.min_epochs) / math.log(self.eta) + 1e-9)
        return tuple(self.max_epochs / self.eta ** i for i in range(k, -1, -1))

    def start(self, problem: Problem) -> None:
        if problem.fidelities is None:
            raise UserError(f"problem {type(problem).__name__} takes no training budget, so it cannot run under "
                            "a schedule; use --schedule none")
        self.levels_ = self.rungs(problem.fidelities)
        if not self.levels_:
            raise UserError(f"ASHA's epochs [{self.min_epochs:g}, {self.max_epochs:g}] hold none of this problem's "
                            f"fidelities ({', '.join(f'{f:g}' for f in problem.fidelities)})")
        self.results_: list[dict[int, Trial]] = [{} for _ in self.levels_]
        self.promoted_: list[set[int]] = [set() for _ in self.levels_]

    def first(self) -> Budget:
        return Budget(self.levels_[0], self.levels_[-1])

    def rung_of(self, fidelity: float | None) -> int | None:
        """The rung a fidelity belongs to (None: not one of this schedule's)."""
        if fidelity is None:
            return None
        for k, level in enumerate(self.levels_):
            if math.isclose(fidelity, level, rel_tol=1e-6):
                return k
        return None

    def tell(self, trial: Trial) -> None:
        k = self.rung_of(trial.fidelity)
        if k is not None and trial.ok:
            self.results_[k][trial.id] = trial

    def promote(self) -> tuple[Trial, Budget] | None:
        for k in reversed(range(len(self.levels_) - 1)):
            results = list(self.results_[k].values())
            top = math.floor(len(results) / self.eta + 1e-9)
            for trial in ranked(results)[:top]:
                if trial.id not in self.promoted_[k]:
                    self.promoted_[k].add(trial.id)
                    return trial, Budget(self.levels_[k + 1], self.levels_[-1])
        return None

    def promotable(self) -> set[int]:
        return {i for k in range(len(self.levels_) - 1) for i in self.results_[k] if i not in self.promoted_[k]}

    def describe(self) -> dict[str, Any]:
        return {"schedule": "asha", "min_epochs": self.min_epochs, "max_epochs": self.max_epochs, "eta": self.eta,
                "rungs": list(self.levels_)}


def no_schedule() -> None:
    """No schedule: every candidate trains the problem's own epochs (``--schedule none``)."""
    return None


def ranked(trials: list[Trial]) -> list[Trial]:
    """``trials`` best first: constrained non-dominated rank, then larger crowding distance in the
    rank, then the earlier trial."""
    if not trials:
        return []
    values = np.array([t.values for t in trials], dtype=float)
    rank, crowd = rank_and_crowding(values, np.array([t.violation for t in trials]))
    order = sorted(range(len(trials)), key=lambda i: (rank[i], -crowd[i], trials[i].id))
    return [trials[i] for i in order]


def cost(trial: Trial, previous: float | None) -> float:
    """The epochs (or table fidelity) ``trial`` spent: its :attr:`~evonas.core.problem.Trial.cost` where
    the problem reported one (a LEMONADE child's rung trains a fraction of its fine-tune), else its
    fidelity less what the rung it continues (fidelity ``previous``) had already trained."""
    if trial.cost is not None:
        return trial.cost
    return max(0.0, (trial.fidelity or 0.0) - (previous or 0.0))
