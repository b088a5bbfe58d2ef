"""The search driver: owns evaluation, termination and persistence; strategies only ask/tell.

One candidate's life: :meth:`Search.ask` takes a proposal from the strategy (user-given
initial genomes first), gives it the next id and records it as running; the problem (or the
caller, in ask/tell use) evaluates it; :meth:`Search.tell` turns the metrics into a
:class:`~evonas.core.problem.Trial`, writes it to the run store, updates the Pareto archive and
tells the strategy. A metric that is missing, NaN or infinite makes the trial failed.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Protocol

import numpy as np

from evonas.core.errors import UserError
from evonas.core.objectives import Constraint, non_finite, to_min_vector
from evonas.core.pareto import (HypervolumeHistory, Normalisation, ParetoArchive, StoredRemeasures,
                                TopFidelityArchive, with_metrics)
from evonas.core.problem import Checkpoint, Evaluation, InheritsWeights, Problem, Proposal, Trial, TrialState
from evonas.engine.executors import Executor, InProcess, Outcome, Task, evaluate_task
from evonas.engine.results import StoredRun
from evonas.engine.schedule import PROMOTE, Schedule, cost
from evonas.engine.store import CandidateRow, RunStore
from populations.base import Strategy


ALL_FAILED_AFTER = 20
"""A search whose first this-many candidates all fail stops with :class:`AllFailed`."""


class AllFailed(UserError):
    """Every candidate so far failed: the problem, an objective or the target is broken."""


class Termination(Protocol):
    """Decides when a search stops; small objects that compose with :class:`AnyOf`."""

    def done(self, search: "Search") -> bool:
        """True once ``search`` should ask for no more candidates."""
        ...


@dataclass(frozen=True)
class MaxEvaluations:
    """Stop asking once ``n`` candidates are told or in flight (failed ones count: they cost an evaluation)."""

    n: int

    def done(self, search: "Search") -> bool:
        """True once ``n`` candidates were asked."""
        return search.n_started >= self.n


@dataclass(frozen=True)
class MaxSeconds:
    """Stop once ``seconds`` of wall time have passed since :meth:`Search.run` started."""

    seconds: float

    def done(self, search: "Search") -> bool:
        """True once the wall-time budget is spent."""
        return time.perf_counter() - search.started_ >= self.seconds


@dataclass(frozen=True)
class MaxEpochs:
    """Stop asking once the epochs told or in flight reach ``n``: equal budgets for schedules and strategies.

    A told trial counts the epochs it really trained (:attr:`~evonas.core.problem.Trial.cost`: a
    LEMONADE child's rung a fraction of its fine-tune), else what it adds to the rung it continues
    (on a table, its fidelity counts as epochs); one in flight counts an estimate (see
    :attr:`Search.epochs_started`)."""

    n: float

    def done(self, search: "Search") -> bool:
        """True once the epochs asked reach ``n``.

        Raises:
            UserError: the problem reports no fidelity, so epochs cannot be counted.
        """
        last = search.trials[-1] if search.trials else None
        if last is not None and last.ok and last.fidelity is None:
            raise UserError("an epoch budget needs a problem that reports how many epochs each evaluation trained "
                            f"(its fidelity); {type(search.problem).__name__} reports none")
        return search.epochs_started >= self.n


@dataclass(frozen=True)
class AnyOf:
    """Stop when any of ``criteria`` says so."""

    criteria: tuple[Termination, ...]

    def done(self, search: "Search") -> bool:
        """True once any criterion is done."""
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
        """The genome to evaluate (``proposal.genome``)."""
        return self.proposal.genome


Callback = Callable[["Search", Trial], None]


def derive_rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator for a named stream of the run seed."""
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


log = logging.getLogger("evonas")

CANDIDATE_STREAM = 1
"""The run seed's stream for candidate seeds (stream 0 is the strategy's generator)."""
REMEASURE_STREAM = 2
"""The run seed's stream for the seeds of side-by-side re-measurements."""


def candidate_seed(seed: int, candidate_id: int) -> int:
    """The seed of candidate ``candidate_id``: from the run seed and the id only, never the worker."""
    return int(np.random.SeedSequence([seed, CANDIDATE_STREAM, candidate_id]).generate_state(1, np.uint64)[0])


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
        archive: keeps the front: :class:`~evonas.core.pareto.ParetoArchive`, or
            :class:`~evonas.core.pareto.NoiseAwareArchive` to compare measured objectives as
            intervals (the driver re-measures through :meth:`Problem.remeasure`).
        schedule: a multi-fidelity schedule (:class:`~evonas.engine.schedule.ASHA`): it starts
            each candidate at its bottom rung and promotes results, which continue from their
            checkpoints; the front then holds only the highest fidelity reached. None: every
            candidate at the problem's own fidelity.
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
    schedule: Schedule | None = None

    def __post_init__(self) -> None:
        self.objectives = self.problem.objectives
        self.strategy.check(len(self.objectives))
        self.problem.check_constraints(self.constraints)
        self._check_schedule()

        self.lower_, self.upper_ = self.problem.bounds()
        if self.store is not None:  # an objective without declared bounds is stored as None
            self.store.set_meta("bounds", [_json_bounds(self.lower_), _json_bounds(self.upper_)])
        self.started_ = time.perf_counter()
        self.elapsed_before_ = 0.0
        self.hv_ = HypervolumeHistory([o.name for o in self.objectives], self.lower_, self.upper_)
        self._next_id = self.store.next_id() if self.store is not None else 0
        self._asked = 0
        self._told = 0
        self.inflight_: dict[int, Pending] = {}
        self.weights_in_memory_: dict[int, dict] = {}  # without a store: front members' and possible parents' weights
        self.scores: dict[int, dict[str, float]] = {}  # held-out metrics per trial id, never told to the strategy
        self.states_in_memory_: dict[int, Any] = {}  # without a store: training states a promotion may continue
        self.epochs_spent = 0.0
        self._fidelity_of: dict[int, float | None] = {}
        self.resubmit_: list[Pending] = []
        self._remeasures = StoredRemeasures((), self.objectives, self.constraints, fresh=self._remeasure)
        self.archive.bind(self.objectives, self._remeasures)
        self.strategy.bind(self.problem)
        self.strategy.constrain(self.constraints)
        self.strategy.setup(self.problem.space, len(self.objectives), derive_rng(self.seed, 0))

    def _check_schedule(self) -> None:
        """Lay out the schedule's rungs; a resumed run keeps the schedule it was created with."""
        described = None
        if self.schedule is not None:
            self.schedule.start(self.problem)
            self.archive = TopFidelityArchive(type(self.archive))
            described = self.schedule.describe()
        if self.store is None:
            return
        if self.store.next_id() > 0 and self.store.get_meta("schedule") != described:
            raise UserError(f"run '{self.store.run_dir}' was created with schedule {self.store.get_meta('schedule')}, "
                            f"not {described}; resume it with the schedule it was created with")
        self.store.set_meta("schedule", described)

    @property
    def n_evaluated(self) -> int:
        """Candidates told so far (failed ones included)."""
        return len(self.trials)

    @property
    def n_started(self) -> int:
        """Candidates told or being evaluated: what a budget of evaluations counts before asking again."""
        return len(self.trials) + len(self.inflight_)

    @property
    def epochs_started(self) -> float:
        """Epochs told (exact: each trial's cost) plus those in flight (estimated: the rung's increment,
        see :func:`_planned`): what :class:`MaxEpochs` counts."""
        return self.epochs_spent + sum(_planned(p.proposal) for p in self.inflight_.values())

    @property
    def front_fidelity(self) -> float | None:
        """Under a schedule, the fidelity the front is taken at (the highest reached); else None."""
        return self.archive.fidelity if isinstance(self.archive, TopFidelityArchive) else None

    @property
    def hv_history(self) -> list[tuple[int, float, float]]:
        """(evaluations, seconds, hypervolume) at every change of the front, all on the latest
        :attr:`normalisation` (recomputed when the range seen widens)."""
        return self.hv_.entries()

    @property
    def normalisation(self) -> Normalisation:
        """How the hypervolume scales the objectives: the problem's bounds, else the range seen so far."""
        return self.hv_.normalisation

    def hypervolume(self) -> float:
        """Hypervolume of the current front under :attr:`normalisation`."""
        return self.normalisation.hypervolume(self.archive.values) if len(self.archive) else 0.0

    # -- resume ---------------------------------------------------------------------------
    def resume(self, stored: StoredRun | None = None) -> int:
        """Restore the strategy exactly by replaying the stored run; returns the candidates replayed.

        The strategy is set up afresh from the run seed and asked again in the original order;
        each stored trial is told back where it was told before (after as many asks as had
        been made then, so runs with several workers replay their interleaving too). A
        deterministic strategy therefore reaches exactly the state it had, random state
        included. Candidates that were running when the run stopped are asked again under
        their ids and evaluated first when the search continues.

        Args:
            stored: the run as read from :attr:`store` (read here, through the store's own
                connection, when not given).
        """
        if self.store is None:
            return 0
        stored = StoredRun.of(self.store) if stored is None else stored
        stored = stored.parsed(self.problem.space)
        told = stored.told
        asked: dict[int, Pending] = {}
        first = min((t.started_at for t in stored.trials), default=0.0)
        self._remeasures.stored = list(stored.remeasures)  # the archive's decisions replay as they were taken

        def ask_until(n: int) -> None:
            while self._asked < n:
                pending = self.ask(record=False, expected_id=self._asked)
                asked[pending.id] = pending

        for trial in told:
            ask_until(trial.id + 1 if trial.asked_before is None else trial.asked_before)
            self._accept(trial, seconds=trial.finished_at - first)
        self.scores.update(stored.scores)
        ask_until(stored.next_id)  # the candidates asked before the stop but never told
        mismatches = sum(1 for i, p in asked.items()
                         if stored.trial(i) is not None and str(p.genome) != str(stored.trial(i).genome))
        told_ids = {t.id for t in told}
        self.resubmit_ = [p for i, p in sorted(asked.items()) if stored.trial(i) is not None and i not in told_ids]
        for pending in self.resubmit_:
            self._record_running(pending)
        self._told = len(told)
        self.elapsed_before_ = max((t.finished_at - first for t in told), default=0.0)
        if mismatches:
            warnings.warn(f"{mismatches} of {len(stored.trials)} replayed proposals differ from the stored run; the "
                          f"strategy {type(self.strategy).__name__} is not deterministic, so the resumed run "
                          "continues from the stored trials but not from the exact same state", stacklevel=2)
        self._next_id = stored.next_id
        log.info("resumed %s: %d candidates replayed, %d that were running are evaluated again",
                 self.store.run_dir, len(told), len(self.resubmit_))
        return len(told)

    # -- the loop ---------------------------------------------------------------------------
    def run(self, executor: Executor | None = None) -> list[Trial]:
        """Search until the termination criterion holds; returns the Pareto front.

        Candidates are evaluated by ``executor`` (default: one at a time in this process).
        Whenever it has a free slot the strategy is asked again, even while other candidates
        are being evaluated, and results are told in the order they finish. Once the
        termination criterion holds no more candidates are asked and those in flight finish.

        Raises:
            AllFailed: the first :data:`ALL_FAILED_AFTER` candidates all failed (a broken
                problem or objective, not an unlucky search); they are in the store.
        """
        executor = executor or InProcess()
        self.started_ = time.perf_counter()
        executor.start(self.problem)
        try:
            while True:
                while executor.free_slots() > 0 and not self.termination.done(self):
                    pending = self.ask()
                    executor.submit(self._task(pending))
                    self.inflight_[pending.id] = pending
                if not self.inflight_ and self.termination.done(self):
                    break
                for trial_id, outcome in executor.wait():
                    self.tell(self.inflight_.pop(trial_id), outcome)
                    self._check_all_failed()
        finally:
            executor.close()
        if self.store is not None and not self.keep_weights:
            self.store.prune_weights(self.weights_kept())
        return self.front()

    def _check_all_failed(self) -> None:
        if self.n_evaluated == ALL_FAILED_AFTER and not any(t.ok for t in self.trials):
            first = (self.trials[-1].error or "").splitlines()[0]
            raise AllFailed(f"the first {ALL_FAILED_AFTER} candidates all failed, so the search stopped; "
                            f"the last one: {first}")

    def _task(self, pending: Pending) -> Task:
        known = None if self.store is None else self.store.latest_measurement(str(pending.genome))
        return Task(pending.id, self._with_checkpoint(self._with_parent_weights(pending.proposal)), known)

    def step(self) -> Trial:
        """Ask, evaluate in this process, tell: one candidate."""
        pending = self.ask()
        return self.tell(pending, self.evaluate(pending))

    def ask(self, record: bool = True, expected_id: int | None = None) -> Pending:
        """The next candidate to evaluate (user-given initial genomes first), recorded as running.

        Its proposal carries the candidate's seed, derived from the run seed and its id. After
        a resume, the candidates that were in flight when the run stopped come first.
        """
        if self.resubmit_ and expected_id is None:
            return self.resubmit_.pop(0)
        promotion = (self.schedule.promote() if self.schedule is not None and self._asked >= len(self.initial)
                     else None)
        if promotion is not None:
            rung, budget = promotion
            proposal = Proposal(rung.genome, rung.id, PROMOTE, budget=budget,
                                resume=Checkpoint(rung.id, rung.fidelity, dict(rung.metrics)))
        elif self._asked < len(self.initial):
            proposal = Proposal(self.initial[self._asked], None, "init")
        else:
            proposal = self.strategy.ask()
        if self.schedule is not None and proposal.budget is None:
            proposal = replace(proposal, budget=self.schedule.first())
        self._asked += 1
        trial_id = self._next_id if expected_id is None else expected_id
        self._next_id = trial_id + 1
        proposal = replace(proposal, seed=candidate_seed(self.seed, trial_id))
        pending = Pending(trial_id, proposal, time.time())
        if record:
            self._record_running(pending)
        return pending

    def _record_running(self, pending: Pending) -> None:
        if self.store is not None:
            p = pending.proposal
            self.store.record(CandidateRow(pending.id, str(p.genome), p.parent_id, p.operator,
                                           TrialState.RUNNING, None, {}, 0.0, None, pending.started,
                                           pending.started, 0.0))

    def evaluate(self, pending: Pending) -> Outcome:
        """Have the problem evaluate ``pending`` in this process; a failure is returned as its reason."""
        return evaluate_task(self.problem, self._task(pending))

    def tell(self, pending: Pending, result: Evaluation | Mapping[str, float] | BaseException | str) -> Trial:
        """Record the outcome of ``pending``: an :class:`Evaluation`, a metrics mapping, or a failure.

        A failure is an exception or a string saying why. Missing, NaN or infinite objective or
        constraint metrics make the trial failed with the reason recorded.
        """
        seconds = time.time() - pending.started
        p = pending.proposal
        evaluation = Evaluation({})
        if isinstance(result, (BaseException, str)):
            trial = self._failed(pending, _reason(result))
        else:
            evaluation = result if isinstance(result, Evaluation) else Evaluation(dict(result))
            fidelity = evaluation.fidelity if evaluation.fidelity is not None or p.budget is None else p.budget.fidelity
            metrics = {k: float(v) for k, v in evaluation.metrics.items()}
            needed = [o.name for o in self.objectives] + [c.name for c in self.constraints]
            bad = non_finite(needed, metrics)
            if bad:
                trial = self._failed(pending, "non-finite or missing metric: " + ", ".join(
                    f"{n}={metrics.get(n, 'missing')}" for n in bad), metrics)
            else:
                violation = sum(c.violation(metrics) for c in self.constraints)
                trial = Trial(pending.id, p.genome, p.parent_id, p.operator, TrialState.OK, metrics,
                              to_min_vector(self.objectives, metrics), violation, fidelity, cost=evaluation.cost)
        scores = {k: float(v) for k, v in evaluation.scores.items()}
        if scores:
            self.scores[trial.id] = scores
        if self.store is not None:
            self._persist(trial, evaluation, pending.started, seconds, scores)
        elif trial.ok and evaluation.weights is not None:
            self.weights_in_memory_[trial.id] = evaluation.weights
            if evaluation.train_state is not None:
                self.states_in_memory_[trial.id] = evaluation.train_state
        if not trial.ok:
            log.info("candidate %d failed: %s", trial.id, (trial.error or "").partition("\n")[0])
        self._told += 1
        self._accept(trial)
        if self.weights_in_memory_:
            keep = self.weights_kept()
            self.weights_in_memory_ = {i: w for i, w in self.weights_in_memory_.items() if i in keep}
            self.states_in_memory_ = {i: w for i, w in self.states_in_memory_.items() if i in keep}
        for callback in self.callbacks:
            callback(self, trial)
        return trial

    def weights_kept(self) -> set[int]:
        """The trials whose weights are kept (in memory without a store, on disk at the end): the
        front's (for export), every trial the strategy may still choose as a parent
        (:meth:`~populations.base.Strategy.parent_ids`) and every rung a schedule may still promote."""
        promotable = self.schedule.promotable() if self.schedule is not None else set()
        return {t.id for t in self.archive.trials} | self.strategy.parent_ids() | promotable

    def _failed(self, pending: Pending, reason: str, metrics: dict | None = None) -> Trial:
        p = pending.proposal
        return Trial(pending.id, p.genome, p.parent_id, p.operator, TrialState.FAILED, metrics or {},
                     np.full(len(self.objectives), np.nan), 0.0, None if p.budget is None else p.budget.fidelity,
                     reason)

    def _persist(self, trial: Trial, evaluation: Evaluation, started: float, seconds: float,
                 scores: dict[str, float]) -> None:
        if evaluation.weights is not None:
            self.store.save_weights(trial.id, evaluation.weights)
        if trial.ok and evaluation.train_state is not None:
            self.store.save_state(trial.id, evaluation.train_state)
        self.store.record(CandidateRow(
            trial.id, str(trial.genome), trial.parent_id, trial.operator, trial.state,
            trial.fidelity, trial.metrics, trial.violation, trial.error, started, started + seconds, seconds,
            self._told, self._asked, trial.cost), evaluation.measurement,  # a hardware measurement with its fingerprint
            scores=scores)

    def _accept(self, trial: Trial, seconds: float | None = None) -> None:
        """Add a finished trial to the history, the archive, the schedule and the strategy."""
        self.trials.append(trial)
        self._fidelity_of[trial.id] = trial.fidelity
        previous = self._fidelity_of.get(trial.parent_id) if trial.operator == PROMOTE else None
        self.epochs_spent += cost(trial, previous)
        if self.schedule is not None:
            self.schedule.tell(trial)
        if trial.feasible:
            self.hv_.see(trial.values)
        if self.archive.add(trial) or not len(self.hv_):
            if seconds is None:
                seconds = self.elapsed_before_ + time.perf_counter() - self.started_
            self.hv_.record(len(self.trials), seconds, self.archive.values)
        self.strategy.tell(trial)

    def _remeasure(self, first: Trial, second: Trial) -> tuple[Trial, Trial]:
        """Measure two trials again side by side (a noise-aware archive asks before dropping one).

        The new metrics are stored; a resumed run replays them instead of measuring again.
        """
        seed = int(derive_rng(self.seed, REMEASURE_STREAM, first.id, second.id).integers(2 ** 31))
        updates = self.problem.remeasure([first.genome, second.genome], seed)
        if updates is None:
            return first, second
        if self.store is not None:
            self.store.record_remeasure(first.id, second.id, updates)
        return (with_metrics(first, updates[0], self.objectives, self.constraints),
                with_metrics(second, updates[1], self.objectives, self.constraints))

    def _with_parent_weights(self, proposal: Proposal) -> Proposal:
        """Lamarckian hand-off: a payload that inherits weights gets the parent's trained ones, from
        the run store or, without one, from memory. A child is never silently trained from scratch:
        if the parent's weights are gone, the search stops and says so."""
        payload, parent = proposal.payload, proposal.parent_id
        if payload is None or not isinstance(payload, InheritsWeights) or parent is None:
            return proposal
        if self.store is None:
            weights = self.weights_in_memory_.get(parent)
            if weights is None:
                raise UserError(f"candidate {proposal.genome} inherits the weights of #{parent}, which this run "
                                f"no longer holds: {type(self.strategy).__name__}.parent_ids() did not name it")
            return replace(proposal, payload=payload.with_weights(weights))
        if not self.store.weights_path(parent).is_file():
            raise UserError(f"a child of #{parent} inherits its weights, but {self.store.weights_path(parent)} "
                            "is missing; a LEMONADE child is never trained from scratch in its place")
        return replace(proposal, payload=payload.with_weights(self.store.load_weights(parent)))

    def _with_checkpoint(self, proposal: Proposal) -> Proposal:
        """A promotion continues from the rung's stored weights and training state (from memory
        without a store; a table-backed problem needs neither); if they are gone the search stops and says so, never restarting it."""
        resume = proposal.resume
        if resume is None or resume.weights is not None or not self.problem.trains_networks:
            return proposal
        i = resume.trial_id
        if self.store is None:
            weights, state = self.weights_in_memory_.get(i), self.states_in_memory_.get(i)
            missing = "this run no longer holds them" if weights is None else None
        else:
            found = self.store.weights_path(i).is_file() and self.store.state_path(i).is_file()
            missing = None if found else f"{self.store.weights_path(i)} or {self.store.state_path(i)} is missing"
            weights, state = (self.store.load_weights(i), self.store.load_state(i)) if found else (None, None)
        if missing is not None:
            raise UserError(f"promoting #{i} continues its training, but its weights and training state are "
                            f"gone ({missing}); a promoted candidate is never restarted from scratch")
        return replace(proposal, resume=replace(resume, weights=weights, state=state))

    def front(self) -> list[Trial]:
        """The feasible non-dominated trials, sorted by the first objective."""
        return sorted(self.archive.trials, key=lambda t: tuple(t.values))

    def scored_front(self) -> np.ndarray:
        """The front, chosen on what the search saw, valued on the problem's score objectives.

        Rows are the front's members in minimisation form of
        :attr:`~evonas.core.problem.Problem.score_objectives` (held-out scores first, then
        metrics); a benchmark takes its hypervolume against the true front of the scores.
        """
        objectives = self.problem.score_objectives
        rows = [to_min_vector(objectives, {**t.metrics, **self.scores.get(t.id, {})}) for t in self.archive.trials]
        return np.array(rows).reshape(len(rows), len(objectives))


def _planned(proposal: Proposal) -> float:
    """The epochs a proposal in flight will spend, estimated before it is told: its rung's increment.

    0 where it has no budget (its fidelity is known only once told). The driver cannot know
    whether the problem counts a rung as a fraction of a child's fine-tune (its cost is told
    with its evaluation), so a child in flight counts as a new network would: an upper bound
    for a fine-tune no longer than the schedule's top rung. A budget therefore never starts
    more than it can pay for; once told, the trial's exact cost replaces the estimate.
    """
    if proposal.budget is None:
        return 0.0
    return proposal.budget.fidelity - (proposal.resume.fidelity if proposal.resume is not None else 0.0)


def _json_bounds(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _reason(failure: BaseException | str) -> str:
    return failure if isinstance(failure, str) else f"{type(failure).__name__}: {failure}"
