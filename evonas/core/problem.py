"""What a search works on: a space of genomes, a problem that evaluates them, and the records.

The driver (:mod:`evonas.engine.driver`) asks a strategy for :class:`Proposal` objects, has the
:class:`Problem` evaluate them, records each as a :class:`Trial` and tells the strategy.
Real training and table-backed benchmarks are both problems; nothing else knows which.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import Any, Hashable, Protocol, Sequence, runtime_checkable

import numpy as np

from evonas.core.errors import UserError
from evonas.core.objectives import Constraint, Objective


class SearchSpace(Protocol):
    """The operations strategies need on a space of hashable, string-printable genomes."""

    def sample(self, rng: np.random.Generator) -> Hashable:
        """A genome drawn at random with ``rng``."""
        ...

    def mutate(self, genome: Any, rng: np.random.Generator) -> tuple[Any, str]:
        """A child of ``genome`` and the name of the operator that made it (recorded as its lineage)."""
        ...

    def parse(self, text: str) -> Any:
        """The genome that ``str(genome)`` printed: ``parse(str(g)) == g``."""
        ...

    def cardinalities(self) -> tuple[int, ...]:
        """The number of choices of each position of the integer encoding."""
        ...

    def encode(self, genome: Any) -> np.ndarray:
        """``genome`` as integers, one per position, each below its cardinality."""
        ...

    def decode(self, vector: Sequence[int]) -> Any:
        """The genome of an integer vector (the inverse of :meth:`encode`)."""
        ...


@dataclass(frozen=True)
class Budget:
    """How far to train a candidate under a multi-fidelity schedule.

    Attributes:
        fidelity: train up to this many epochs (or a table's fidelity) in all.
        planned: the most any candidate is trained (the schedule's top rung). A learning-rate
            schedule is laid out over ``planned``, so a candidate stopped at ``fidelity`` and
            continued later ends where one trained straight through would.
    """

    fidelity: float
    planned: float

    def __post_init__(self) -> None:
        if not 0 < self.fidelity <= self.planned:
            raise UserError(f"a budget needs 0 < fidelity <= planned, got {self.fidelity} of {self.planned}")

    @property
    def final(self) -> bool:
        """Whether this is the top rung: nothing continues from it."""
        return self.fidelity >= self.planned


@dataclass(frozen=True)
class Checkpoint:
    """Where a candidate's training stopped at a lower rung, to continue it exactly.

    The driver makes it (``weights`` and ``state`` None) when it promotes trial ``trial_id``,
    and fills both from the run store, or memory, before the candidate is evaluated.

    Attributes:
        trial_id: the trial (one rung's result) this continues.
        fidelity: epochs (or the table's fidelity) trained so far.
        metrics: that rung's metrics; a problem carries its training-free ones forward.
        weights: the network's ``state_dict`` at that rung.
        state: the problem's training state (optimizer, position in the learning-rate schedule,
            shuffling), as its :attr:`Evaluation.train_state`; opaque to the driver.
    """

    trial_id: int
    fidelity: float
    metrics: dict[str, float] = field(default_factory=dict)
    weights: dict[str, Any] | None = None
    state: Any = None


@dataclass(frozen=True)
class Proposal:
    """A genome a strategy wants evaluated, with its lineage.

    Attributes:
        genome: the candidate.
        parent_id: id of the trial it was derived from, if any.
        operator: what made it ('random', 'mutate_kernel', a morphism name, ...).
        payload: strategy-specific data the problem may use (e.g. inherited weights).
        seed: set by the driver before evaluation: the candidate's seed, derived from the run
            seed and the candidate's id, so its result does not depend on which worker ran it.
            Problems seed their randomness (weight initialisation, shuffling) from it.
        budget: set by the driver under a multi-fidelity schedule: how far to train (None: the
            problem's own fidelity, as without a schedule).
        resume: set by the driver when it promotes a candidate to the next rung: the checkpoint
            to continue from, never restarting (None: a new candidate).
    """

    genome: Any
    parent_id: int | None = None
    operator: str = "random"
    payload: Any = None
    seed: int | None = None
    budget: Budget | None = None
    resume: Checkpoint | None = None


class TrialState(enum.Enum):
    """Where a trial stands. Stored by value in the run store."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


@runtime_checkable
class InheritsWeights(Protocol):
    """A proposal payload asking for its parent's stored weights (Lamarckian inheritance).

    The driver, which owns the stored weights, calls :meth:`with_weights` with the parent's
    ``state_dict`` and hands the returned payload to the problem.
    """

    def with_weights(self, state_dict: dict) -> Any: ...


@runtime_checkable
class WeightTransfer(Protocol):
    """A filled :class:`InheritsWeights` payload: how to make the child's weights from the parent's.

    ``function_preserving`` children are fine-tuned; the others are repaired by distillation
    from the parent (``parent_genome`` with ``parent_weights``).
    """

    parent_genome: Any
    parent_weights: dict | None

    @property
    def function_preserving(self) -> bool: ...

    def child_weights(self, space_config: Any, generator: Any, inputs: Any = None) -> dict:
        """The child's weights; ``inputs`` (training images) let an approximate child be fitted to its parent."""


@dataclass(frozen=True)
class Evaluation:
    """What a problem returns for one candidate.

    Attributes:
        metrics: every objective's and constrained metric's value by name (what strategies see).
        fidelity: the training budget used (epochs), where the problem has one.
        weights: the trained network's ``state_dict``, kept for export and for children that
            inherit it.
        measurement: the hardware measurement behind a latency metric (keys ``target``,
            ``result``, ``fingerprint``), stored so a resumed run or another worker reuses it.
        scores: held-out metrics (e.g. a test accuracy, or a benchmark's 200-epoch mean beside
            the validation accuracy searched on): stored, and used to score fronts, but never
            shown to a strategy.
        train_state: under a schedule, below the top rung: what continuing the training needs
            besides ``weights`` (optimizer state, learning-rate schedule position, shuffling
            state); handed back as :attr:`Checkpoint.state`. Must be picklable by ``torch.save``.
        cost: the epochs this evaluation really trained, where they differ from what its
            fidelity says: a LEMONADE child under a schedule trains a fraction of its own
            fine-tune, not of a new network's training. None: the fidelity less that of the
            checkpoint it continued (a new network, a table). What an epoch budget counts.
    """

    metrics: dict[str, float]
    fidelity: float | None = None
    weights: dict[str, Any] | None = None
    measurement: dict[str, Any] | None = None
    scores: dict[str, float] = field(default_factory=dict)
    train_state: Any = None
    cost: float | None = None


@dataclass(frozen=True)
class Trial:
    """An evaluated (or failed) candidate as the driver records it.

    ``values`` holds the objectives in minimisation form (NaN when failed); ``violation`` is
    the total constraint violation (0 = feasible); ``error`` says why a trial failed; ``cost``
    is the epochs it really trained, as its :attr:`Evaluation.cost` (None: its fidelity increment).
    """

    id: int
    genome: Any
    parent_id: int | None
    operator: str
    state: TrialState
    metrics: dict[str, float]
    values: np.ndarray
    violation: float = 0.0
    fidelity: float | None = None
    error: str | None = None
    cost: float | None = None

    @property
    def ok(self) -> bool:
        """The evaluation succeeded (state ``OK``)."""
        return self.state is TrialState.OK

    @property
    def feasible(self) -> bool:
        """Succeeded and meets every constraint: it may enter the front."""
        return self.ok and self.violation == 0.0


class Problem(abc.ABC):
    """Evaluates genomes of :attr:`space` into metrics, including every objective's name.

    Subclasses set ``space`` and ``objectives`` (any number k >= 2) and implement
    :meth:`evaluate` and :meth:`bounds`. Optional hooks: :meth:`metric_names`,
    :meth:`cheap_metrics`, :meth:`check_constraints`, :meth:`describe`, :meth:`close`.
    """

    space: SearchSpace
    objectives: tuple[Objective, ...]
    trains_networks: bool = False
    """Whether evaluations train networks whose weights children could inherit (a Study given no
    strategy then searches with LEMONADE)."""
    fidelities: tuple[float, ...] | None = None
    """The fidelities :meth:`evaluate` honours in a :attr:`Proposal.budget`: ``None`` where it
    takes none (a schedule is refused), ``()`` for any positive number of epochs (real
    training), else the levels a table holds (a schedule's rungs are then those levels)."""

    @property
    def score_objectives(self) -> tuple[Objective, ...]:
        """What a front is scored on: per objective, its held-out counterpart (default: itself).

        A front is chosen on :attr:`objectives` (what the search sees) and then scored on
        these, looked up in each trial's scores first, then in its metrics.
        """
        return self.objectives

    def score_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of :attr:`score_objectives` in minimisation form (default: :meth:`bounds`)."""
        return self.bounds()

    def metric_names(self) -> frozenset[str]:
        """Every metric :meth:`evaluate` returns; constraints may bound any of them.

        The default is the objectives' names; problems that record more say so.
        """
        return frozenset(o.name for o in self.objectives)

    def check_metric_names(self, constraints: Sequence[Constraint]) -> None:
        """Raise :class:`UserError` if an objective or a constraint names a metric this problem never produces."""
        known = self.metric_names()
        for what, name in [("objective", o.name) for o in self.objectives] + [("constraint", c.name) for c in constraints]:
            if name not in known:
                raise UserError(f"{what} on unknown metric {name!r}; this problem produces: {', '.join(sorted(known))}")

    @abc.abstractmethod
    def evaluate(self, proposal: Proposal) -> Evaluation:
        """Evaluate one proposal; raise to mark it failed (the driver records the error)."""

    @abc.abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bound of each objective in minimisation form, for hypervolume.

        Objectives are scaled to [0, 1] by these bounds and the hypervolume reference
        point is (1, ..., 1). NaN (both sides) where an objective's range is not known in
        advance: it is then scaled by the range seen so far
        (:func:`~evonas.core.pareto.normalisation`) and the hypervolume is relative.
        """

    def describe(self) -> dict[str, Any]:
        """A JSON-able description stored with the run."""
        return {"problem": type(self).__name__}

    def cheap_metrics(self, genome: Any, names: Sequence[str]) -> dict[str, float]:
        """Those of metrics ``names`` known without training (e.g. params, FLOPs, latency).

        The default knows none; a problem returns what it can compute cheaply.
        """
        return {}

    def training_free(self, genomes: Sequence[Any], objective: Objective) -> list[float]:
        """``objective`` (training-free, with a source, e.g. a zero-cost proxy) on the untrained
        network of each genome: what a training-free screen ranks candidates by.

        Optional: the default refuses, naming the problem; a problem that builds networks computes it.
        """
        raise UserError(f"problem {type(self).__name__} cannot score untrained networks, so it cannot screen "
                        f"candidates by {objective.name}; screens need real training (--space mobilenet)")

    def check_constraints(self, constraints: Sequence[Constraint]) -> None:
        """Raise :class:`~evonas.core.errors.UserError` if ``constraints`` cannot be met in this space.

        Called by the driver before the search starts, so an infeasible bound is an error,
        not a search that never finds a feasible candidate. The default checks only that every
        constraint names a metric this problem produces.
        """
        self.check_metric_names(constraints)

    def reuse_measurement(self, genome: Any, record: dict[str, Any]) -> None:
        """Use ``record``, a stored hardware measurement of ``genome``, instead of measuring it again.

        The driver calls it before an evaluation when the run store already holds a
        measurement of the genome (a resumed run, another worker), so no worker re-times a
        known genome. The default ignores it.
        """

    def remeasure(self, genomes: Sequence[Any], seed: int) -> list[dict[str, float]] | None:
        """Measure the noisy metrics of ``genomes`` again, side by side (noise-aware dominance).

        Called by the driver when a noise-aware archive would drop one of two candidates only
        because their intervals overlap. Returns, per genome, the metrics measured again with
        their intervals (see :func:`~evonas.core.objectives.interval_names`), or None where
        this problem measures nothing noisy (the default). ``seed`` seeds any randomness.
        """
        return None

    def close(self) -> None:
        """Release resources (sessions, files)."""
