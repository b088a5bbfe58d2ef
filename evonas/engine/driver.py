"""The search driver: owns evaluation, termination and persistence; strategies only ask/tell.

One candidate's life: :meth:`Search.ask` takes a proposal from the strategy (user-given
initial genomes first), gives it the next id and records it as running; the problem (or the
caller, in ask/tell use) evaluates it; :meth:`Search.tell` turns the metrics into a
:class:`~evonas.core.problem.Trial`, writes it to the run store, updates the Pareto archive and
tells the strategy. A metric that is missing, NaN or infinite makes the trial failed.
"""

from __future__ import annotations

import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Protocol

import numpy as np

from evonas.core.errors import UserError
from evonas.core.objectives import Constraint, non_finite, to_min_vector
from evonas.core.pareto import ParetoArchive, hypervolume
from evonas.core.problem import Evaluation, InheritsWeights, Problem, Proposal, Trial, TrialState
from evonas.engine.store import CandidateRow, RunStore
from populations.base import Strategy


ALL_FAILED_AFTER = 20
"""A search whose first this-many candidates all fail stops with :class:`AllFailed`."""


class AllFailed(UserError):
    """Every candidate so far failed: the problem, an objective or the target is broken."""


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
class Pending:
    """A proposal the driver has handed out for evaluation, with its id.

    Attributes:
        id: the candidate id (also its row in the run store).
        proposal: genome, lineage and payload.
        started: wall-clock time it was asked.
    """

    id: int
    proposal: Proposal
    started: float

    @property
    def genome(self) -> Any:
        return self.proposal.genome


Callback = Callable[["Search", Trial], None]


def derive_rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator for a named stream of the run seed."""
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


@dataclass
class Search:
    """Runs ``strategy`` on ``problem`` until ``termination``, recording into ``store``.

    Args:
        problem: evaluates genomes (real training or a benchmark table); in ask/tell use it
            only supplies the space, objectives and bounds.
        strategy: proposes genomes through ask/tell.
        termination: when to stop, e.g. ``MaxEvaluations(100)``.
        seed: the run seed; the strategy's generator is derived from it.
        store: where every candidate is written as it starts and finishes (optional).
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
        self.strategy.check(len(self.objectives))
        self.problem.check_constraints(self.constraints)
        self.lower_, self.upper_ = self.problem.bounds()
        if self.store is not None:
            self.store.set_meta("bounds", [self.lower_.tolist(), self.upper_.tolist()])
        self.started_ = time.perf_counter()
        self.elapsed_before_ = 0.0
        self.hv_history: list[tuple[int, float, float]] = []  # (evaluations, seconds, hypervolume)
        self._next_id = self.store.next_id() if self.store is not None else 0
        self._asked = 0
        self.strategy.bind(self.problem)
        self.strategy.constrain(self.constraints)
        self.strategy.setup(self.problem.space, len(self.objectives), derive_rng(self.seed, 0))

    @property
    def n_evaluated(self) -> int:
        return len(self.trials)

    def hypervolume(self) -> float:
        """Hypervolume of the current front, objectives scaled by the problem's bounds."""
        return hypervolume(self.archive.values, self.lower_, self.upper_) if len(self.archive) else 0.0

    # -- resume ---------------------------------------------------------------------------
    def resume(self) -> int:
        """Restore the strategy exactly by replaying the stored run; returns the candidates replayed.

        The strategy is set up afresh from the run seed and asked again in the original order;
        each stored trial is told back where it was told before. A deterministic strategy
        therefore reaches exactly the state it had, random state included, and the resumed
        run continues as if never stopped. Candidates that were running when the run stopped
        are dropped and evaluated again under the same ids.
        """
        if self.store is None:
            return 0
        self.store.drop_running()
        rows = self.store.candidates()
        mismatches = 0
        first = min((r.started_at for r in rows), default=0.0)
        for row in rows:
            pending = self.ask(record=False, expected_id=row.id)
            if str(pending.genome) != row.genome:
                mismatches += 1
            self._accept(self._trial_from_row(row), seconds=row.finished_at - first)
        self.elapsed_before_ = max((r.finished_at - first for r in rows), default=0.0)
        if mismatches:
            warnings.warn(f"{mismatches} of {len(rows)} replayed proposals differ from the stored run; the "
                          f"strategy {type(self.strategy).__name__} is not deterministic, so the resumed run "
                          "continues from the stored trials but not from the exact same state", stacklevel=2)
        self._next_id = self.store.next_id()
        return len(rows)

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> list[Trial]:
        """Search until the termination criterion holds; returns the Pareto front.

        Raises:
            AllFailed: the first :data:`ALL_FAILED_AFTER` candidates all failed (a broken
                problem or objective, not an unlucky search); they are in the store.
        """
        self.started_ = time.perf_counter()
        while not self.termination.done(self):
            self.step()
            if self.n_evaluated == ALL_FAILED_AFTER and not any(t.ok for t in self.trials):
                first = (self.trials[-1].error or "").splitlines()[0]
                raise AllFailed(f"the first {ALL_FAILED_AFTER} candidates all failed, so the search stopped; "
                                f"the last one: {first}")
        if self.store is not None and not self.keep_weights:
            self.store.prune_weights({t.id for t in self.archive.trials})
        return self.front()

    def step(self) -> Trial:
        """Ask, evaluate, tell: one candidate."""
        pending = self.ask()
        return self.tell(pending, self.evaluate(pending))

    def ask(self, record: bool = True, expected_id: int | None = None) -> Pending:
        """The next candidate to evaluate (user-given initial genomes first), recorded as running."""
        if self._asked < len(self.initial):
            proposal = Proposal(self.initial[self._asked], None, "init")
        else:
            proposal = self.strategy.ask()
        self._asked += 1
        trial_id = self._next_id if expected_id is None else expected_id
        self._next_id = trial_id + 1
        pending = Pending(trial_id, proposal, time.time())
        if record and self.store is not None:
            self.store.record(CandidateRow(trial_id, str(proposal.genome), proposal.parent_id, proposal.operator,
                                           TrialState.RUNNING.value, None, {}, 0.0, None, pending.started,
                                           pending.started, 0.0))
        return pending

    def evaluate(self, pending: Pending) -> Evaluation | BaseException:
        """Have the problem evaluate ``pending``; an exception is returned, not raised."""
        try:
            return self.problem.evaluate(self._with_parent_weights(pending.proposal))
        except Exception as exc:  # a candidate that fails is data, not a crash of the search
            exc.evonas_traceback = traceback.format_exc(limit=5)  # type: ignore[attr-defined]
            return exc

    def tell(self, pending: Pending, result: Evaluation | Mapping[str, float] | BaseException | str) -> Trial:
        """Record the outcome of ``pending``: an :class:`Evaluation`, a metrics mapping, or a failure.

        A failure is an exception or a string saying why. Missing, NaN or infinite objective or
        constraint metrics make the trial failed with the reason recorded.
        """
        seconds = time.time() - pending.started
        p = pending.proposal
        artifacts: dict = {}
        fidelity = None
        if isinstance(result, (BaseException, str)):
            trial = self._failed(pending, _reason(result))
        else:
            evaluation = result if isinstance(result, Evaluation) else Evaluation(dict(result))
            fidelity, artifacts = evaluation.fidelity, evaluation.artifacts
            metrics = {k: float(v) for k, v in evaluation.metrics.items()}
            needed = [o.name for o in self.objectives] + [c.name for c in self.constraints]
            bad = non_finite(needed, metrics)
            if bad:
                trial = self._failed(pending, "non-finite or missing metric: " + ", ".join(
                    f"{n}={metrics.get(n, 'missing')}" for n in bad), metrics)
            else:
                violation = sum(c.violation(metrics) for c in self.constraints)
                trial = Trial(pending.id, p.genome, p.parent_id, p.operator, TrialState.OK, metrics,
                              to_min_vector(self.objectives, metrics), violation, fidelity)
        if self.store is not None:
            self._persist(trial, artifacts, pending.started, seconds)
        self._accept(trial)
        for callback in self.callbacks:
            callback(self, trial)
        return trial

    def _failed(self, pending: Pending, reason: str, metrics: dict | None = None) -> Trial:
        p = pending.proposal
        return Trial(pending.id, p.genome, p.parent_id, p.operator, TrialState.FAILED, metrics or {},
                     np.full(len(self.objectives), np.nan), 0.0, None, reason)

    def _persist(self, trial: Trial, artifacts: dict, started: float, seconds: float) -> None:
        if "state_dict" in artifacts:
            self.store.save_weights(trial.id, artifacts["state_dict"])
        self.store.record(CandidateRow(
            trial.id, str(trial.genome), trial.parent_id, trial.operator, trial.state.value,
            trial.fidelity, trial.metrics, trial.violation, trial.error, started, started + seconds, seconds),
            artifacts.get("measurement"))  # a hardware measurement with its environment fingerprint

    def _accept(self, trial: Trial, seconds: float | None = None) -> None:
        """Add a finished trial to the history, the archive and the strategy."""
        self.trials.append(trial)
        if self.archive.add(trial) or not self.hv_history:
            if seconds is None:
                seconds = self.elapsed_before_ + time.perf_counter() - self.started_
            self.hv_history.append((len(self.trials), seconds, self.hypervolume()))
        self.strategy.tell(trial)

    def _with_parent_weights(self, proposal: Proposal) -> Proposal:
        """Lamarckian hand-off: a payload that inherits weights gets the parent's stored ones."""
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
        state = TrialState(row.status)
        ok = state is TrialState.OK
        values = (to_min_vector(self.objectives, row.metrics) if ok
                  else np.full(len(self.objectives), np.nan))
        return Trial(row.id, genome, row.parent_id, row.operator, state, row.metrics,
                     values, row.violation, row.fidelity, row.error)


def _reason(failure: BaseException | str) -> str:
    if isinstance(failure, str):
        return failure
    text = f"{type(failure).__name__}: {failure}"
    tb = getattr(failure, "evonas_traceback", None)
    return f"{text}\n{tb}" if tb else text
