"""The search driver: owns evaluation, termination and persistence; strategies only ask/tell."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Protocol

import numpy as np

from evonas.objectives import Constraint, to_min_vector
from evonas.problem import InheritsWeights, Problem, Proposal, Trial
from evonas.store import CandidateRow, RunStore
from populations.archive import ParetoArchive, hypervolume
from populations.base import Strategy


class Termination(Protocol):
    """Decides when a search stops; small objects that compose with :class:`AnyOf`."""

    def done(self, search: "Search") -> bool: ...


@dataclass(frozen=True)
class MaxEvaluations:
    """Stop after ``n`` recorded candidates (failed ones count: they cost an evaluation)."""

    n: int

    def done(self, search: "Search") -> bool:
        return search.n_evaluated >= self.n


@dataclass(frozen=True)
class MaxSeconds:
    """Stop once ``seconds`` of wall time have passed since :meth:`Search.run` started."""

    seconds: float

    def done(self, search: "Search") -> bool:
        return time.perf_counter() - search.started_ >= self.seconds


@dataclass(frozen=True)
class AnyOf:
    """Stop when any of ``criteria`` says so."""

    criteria: tuple[Termination, ...]

    def done(self, search: "Search") -> bool:
        return any(c.done(search) for c in self.criteria)


@dataclass(frozen=True)
class Evaluated:
    """A trial straight out of evaluation, with what the driver must persist."""

    trial: Trial
    artifacts: dict
    started: float
    seconds: float


Callback = Callable[["Search", Trial], None]


def derive_rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator for a named stream of the run seed."""
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


@dataclass
class Search:
    """Runs ``strategy`` on ``problem`` until ``termination``, recording into ``store``.

    Args:
        problem: evaluates genomes (real training or a benchmark table).
        strategy: proposes genomes through ask/tell.
        termination: when to stop, e.g. ``MaxEvaluations(100)``.
        seed: the run seed; the strategy's generator is derived from it.
        store: where every candidate is written as it finishes (optional).
        constraints: bounds on metrics; violating candidates never enter the front.
        callbacks: called after each trial with ``(search, trial)``.
        keep_weights: store trained weights of every candidate (else only of front members).
        initial: genomes evaluated first (operator 'init'), e.g. known good architectures.
    """

    problem: Problem
    strategy: Strategy
    termination: Termination
    seed: int = 0
    store: RunStore | None = None
    constraints: tuple[Constraint, ...] = ()
    callbacks: Iterable[Callback] = ()
    keep_weights: bool = False
    initial: tuple = ()
    archive: ParetoArchive = field(default_factory=ParetoArchive)
    trials: list[Trial] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.objectives = self.problem.objectives
        self.problem.check_constraints(self.constraints)
        self.lower_, self.upper_ = self.problem.bounds()
        self.started_ = time.perf_counter()
        self._next_id = self.store.next_id() if self.store is not None else 0
        self.strategy.bind(self.problem)
        self.strategy.constrain(self.constraints)
        self.strategy.setup(self.problem.space, len(self.objectives), derive_rng(self.seed, 0))

    @property
    def n_evaluated(self) -> int:
        return len(self.trials)

    def hypervolume(self) -> float:
        """Hypervolume of the current front, objectives scaled by the problem's bounds."""
        return hypervolume(self.archive.values, self.lower_, self.upper_) if len(self.archive) else 0.0

    def resume(self) -> int:
        """Replay the store's candidates into the strategy and archive; returns how many.

        The strategy's generator is re-derived from the seed and the number of replayed
        candidates, so a resumed run is itself reproducible.
        """
        if self.store is None:
            return 0
        rows = self.store.candidates()
        self.strategy.setup(self.problem.space, len(self.objectives), derive_rng(self.seed, 1, len(rows)))
        self._next_id = self.store.next_id()
        for row in rows:
            trial = self._trial_from_row(row)
            self.trials.append(trial)
            self.archive.add(trial)
            self.strategy.tell(trial)
        return len(rows)

    def run(self) -> list[Trial]:
        """Search until the termination criterion holds; returns the Pareto front."""
        self.started_ = time.perf_counter()
        while not self.termination.done(self):
            self.step()
        if self.store is not None and not self.keep_weights:
            self.store.prune_weights({t.id for t in self.archive.trials})
        return self.front()

    def step(self) -> Trial:
        """Ask, evaluate, record, tell: one candidate (user-given initial genomes first)."""
        if self.n_evaluated < len(self.initial):
            return self.tell(self.evaluate(Proposal(self.initial[self.n_evaluated], None, "init")))
        return self.tell(self.evaluate(self.strategy.ask()))

    def evaluate(self, proposal: Proposal) -> "Evaluated":
        """Evaluate one proposal; failures become failed trials with the error text."""
        started, t0 = time.time(), time.perf_counter()
        trial_id = self._next_id
        self._next_id += 1
        try:
            evaluation = self.problem.evaluate(self._with_parent_weights(proposal))
            metrics = {k: float(v) for k, v in evaluation.metrics.items()}
            values = to_min_vector(self.objectives, metrics)
            violation = sum(c.violation(metrics) for c in self.constraints)
            trial = Trial(trial_id, proposal.genome, proposal.parent_id, proposal.operator, "ok",
                          metrics, values, violation, evaluation.fidelity)
            artifacts = evaluation.artifacts
        except Exception as exc:  # a candidate that fails is data, not a crash of the search
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
            trial = Trial(trial_id, proposal.genome, proposal.parent_id, proposal.operator, "failed",
                          {}, np.full(len(self.objectives), np.nan), 0.0, None, error)
            artifacts = {}
        return Evaluated(trial, artifacts, started, time.perf_counter() - t0)

    def tell(self, evaluated: "Evaluated") -> Trial:
        """Persist an evaluated trial, update the archive and tell the strategy."""
        trial, artifacts, started, seconds = evaluated.trial, evaluated.artifacts, evaluated.started, evaluated.seconds
        if self.store is not None:
            if "state_dict" in artifacts:
                self.store.save_weights(trial.id, artifacts["state_dict"])
            self.store.record(CandidateRow(
                trial.id, str(trial.genome), trial.parent_id, trial.operator, trial.status,
                trial.fidelity, trial.metrics, trial.violation, trial.error, started,
                started + seconds, seconds))
            if "measurement" in artifacts:  # a hardware measurement with its environment fingerprint
                m = artifacts["measurement"]
                self.store.record_measurement(trial.id, str(trial.genome), m["target"], m["result"], m["fingerprint"])
        self.trials.append(trial)
        self.archive.add(trial)
        self.strategy.tell(trial)
        for callback in self.callbacks:
            callback(self, trial)
        return trial

    def _with_parent_weights(self, proposal: Proposal) -> Proposal:
        """Lamarckian hand-off: a payload that inherits weights gets the parent's stored ones.

        Without a store, or when the parent's weights are gone, the payload stays as it is
        (the problem then trains the child from scratch).
        """
        payload, parent = proposal.payload, proposal.parent_id
        if payload is None or not isinstance(payload, InheritsWeights) or self.store is None or parent is None:
            return proposal
        if not self.store.weights_path(parent).is_file():
            return proposal
        return replace(proposal, payload=payload.with_weights(self.store.load_weights(parent)))

    def front(self) -> list[Trial]:
        """The feasible non-dominated trials, sorted by the first objective."""
        return sorted(self.archive.trials, key=lambda t: tuple(t.values))

    def _trial_from_row(self, row: CandidateRow) -> Trial:
        genome = self.problem.space.parse(row.genome)
        ok = row.status == "ok"
        values = (to_min_vector(self.objectives, row.metrics) if ok
                  else np.full(len(self.objectives), np.nan))
        return Trial(row.id, genome, row.parent_id, row.operator, row.status, row.metrics,
                     values, row.violation, row.fidelity, row.error)
