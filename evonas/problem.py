"""What a search works on: a space of genomes, a problem that evaluates them, and the records.

The driver (:mod:`evonas.driver`) asks a strategy for :class:`Proposal` objects, has the
:class:`Problem` evaluate them, records each as a :class:`Trial` and tells the strategy.
Real training and table-backed benchmarks are both problems; nothing else knows which.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Hashable, Protocol, Sequence, runtime_checkable

import numpy as np

from evonas.objectives import Constraint, Objective


class SearchSpace(Protocol):
    """The operations strategies need on a space of hashable, string-printable genomes."""

    def sample(self, rng: np.random.Generator) -> Hashable: ...

    def mutate(self, genome: Any, rng: np.random.Generator) -> tuple[Any, str]: ...

    def parse(self, text: str) -> Any: ...

    def cardinalities(self) -> tuple[int, ...]: ...

    def encode(self, genome: Any) -> np.ndarray: ...

    def decode(self, vector: Sequence[int]) -> Any: ...


@dataclass(frozen=True)
class Proposal:
    """A genome a strategy wants evaluated, with its lineage.

    Attributes:
        genome: the candidate.
        parent_id: id of the trial it was derived from, if any.
        operator: what made it ('random', 'mutate_kernel', a morphism name, ...).
        payload: strategy-specific data the problem may use (e.g. inherited weights).
    """

    genome: Any
    parent_id: int | None = None
    operator: str = "random"
    payload: Any = None


@runtime_checkable
class InheritsWeights(Protocol):
    """A proposal payload asking for its parent's stored weights (Lamarckian inheritance).

    The driver, which owns the stored weights, calls :meth:`with_weights` with the parent's
    ``state_dict`` and hands the returned payload to the problem.
    """

    def with_weights(self, state_dict: dict) -> Any: ...


@dataclass(frozen=True)
class Evaluation:
    """What a problem returns: metric values, the fidelity used, optional artifacts."""

    metrics: dict[str, float]
    fidelity: float | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Trial:
    """An evaluated (or failed) candidate as the driver records it.

    ``values`` holds the objectives in minimisation form (NaN when failed); ``violation`` is
    the total constraint violation (0 = feasible).
    """

    id: int
    genome: Any
    parent_id: int | None
    operator: str
    status: str
    metrics: dict[str, float]
    values: np.ndarray
    violation: float = 0.0
    fidelity: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def feasible(self) -> bool:
        return self.ok and self.violation == 0.0


class Problem(abc.ABC):
    """Evaluates genomes of :attr:`space` into metrics, including every objective's name.

    Subclasses set ``space`` and ``objectives`` and implement :meth:`evaluate` and
    :meth:`bounds`. Optional hooks: :meth:`describe`, :meth:`close`.
    """

    space: SearchSpace
    objectives: tuple[Objective, ...]

    @abc.abstractmethod
    def evaluate(self, proposal: Proposal) -> Evaluation:
        """Evaluate one proposal; raise to mark it failed (the driver records the error)."""

    @abc.abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bound of each objective in minimisation form, for hypervolume.

        Objectives are scaled to [0, 1] by these bounds and the hypervolume reference
        point is (1, ..., 1).
        """

    def describe(self) -> dict[str, Any]:
        """A JSON-able description stored with the run."""
        return {"problem": type(self).__name__}

    def cheap_metrics(self, genome: Any, names: Sequence[str]) -> dict[str, float]:
        """Those of metrics ``names`` known without training (e.g. params, FLOPs, latency).

        The default knows none; a problem returns what it can compute cheaply.
        """
        return {}

    def check_constraints(self, constraints: Sequence[Constraint]) -> None:
        """Raise :class:`~evonas.errors.UserError` if ``constraints`` cannot be met in this space.

        Called by the driver before the search starts, so an infeasible bound is an error,
        not a search that never finds a feasible candidate. The default checks nothing.
        """

    def close(self) -> None:
        """Release resources (sessions, files)."""
