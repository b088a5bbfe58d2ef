"""The public way to run a search: :class:`Study` (one call, or ask/tell) and :class:`SearchResult`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from evonas.api.spec import export_run
from evonas.core.errors import UserError
from evonas.core.objectives import Constraint, Objective, check_objectives
from evonas.core.problem import Evaluation, Problem, Proposal, SearchSpace, Trial
from evonas.core.pareto import NoiseAwareArchive, Normalisation, ParetoArchive
from evonas.engine.executors import Executor
from evonas.engine.driver import AnyOf, Callback, MaxEpochs, MaxEvaluations, MaxSeconds, Pending, Search, Termination
from evonas.engine.schedule import Schedule
from evonas.engine.store import RunStore, check_new_run_dir
from populations.base import Strategy


class AskTellProblem(Problem):
    """The problem of an ask/tell study: the caller evaluates, the study only needs space and objectives.

    An objective with ``bounds`` (or named 'accuracy', which defaults to [0, 1]) has a fixed
    scale; without, the hypervolume is relative to the range seen so far.
    """

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective], metrics: Iterable[str] = ()):
        self.space = space
        self.objectives = tuple(objectives)
        self.extra_metrics = frozenset(metrics)
        check_objectives(self.objectives)

    def metric_names(self) -> frozenset[str]:
        return super().metric_names() | self.extra_metrics

    def evaluate(self, proposal: Proposal) -> Evaluation:
        raise UserError("this study has no problem to evaluate candidates: evaluate them yourself and call tell()")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        pairs = [sorted((o.to_min(lo), o.to_min(hi))) for o in self.objectives
                 for lo, hi in [o.bounds if o.bounds is not None else (0.0, 1.0) if o.name == "accuracy"
                                else (np.nan, np.nan)]]
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])

    def describe(self) -> dict[str, Any]:
        return {"problem": "ask-tell", "space": type(self.space).__name__}


@dataclass(frozen=True)
class SearchResult:
    """What a search produced.

    Attributes:
        objectives: the objectives searched.
        front: the feasible non-dominated trials, sorted by the first objective.
        trials: every finished trial in the order it finished (failed ones included).
        hypervolume: (evaluations, seconds, hypervolume) at every change of the front, all
            on ``normalisation``.
        run_dir: the run directory, or ``None`` for a search without a store.
        scores: held-out scores by trial id (what :meth:`Study.tell` got as ``scores``, or a
            benchmark's score column): recorded, never seen by the strategy.
        normalisation: how the hypervolume scales the objectives; ``normalisation.relative``
            where some objective has no bounds and is scaled by the range seen (its
            ``label()`` says so).
    """

    objectives: tuple[Objective, ...]
    front: list[Trial]
    trials: list[Trial]
    hypervolume: list[tuple[int, float, float]]
    run_dir: Path | None = None
    scores: dict[int, dict[str, float]] = field(default_factory=dict)
    normalisation: Normalisation | None = None

    def export(self, out: str | Path, *, select: Sequence[int] | None = None, quantize: str | None = None) -> list:
        """Write a deployment bundle per front member into ``out`` (as ``evonas export``).

        Each ``out/candidate_<id>/`` holds ``model.onnx`` (dynamic batch, checked, parity with
        torch), ``MODEL_CARD.md`` and, with ``quantize="int8"``, ``model.int8.onnx``; ``out/manifest.json``
        lists them all. ``out`` appears complete or not at all.

        Args:
            out: the export directory (new or empty).
            select: candidate ids to export instead of the front (successful candidates whose weights
                the run kept).
            quantize: ``"int8"`` adds a statically quantised model, measured side by side with the float one.

        Returns:
            One :class:`~evonas.engine.export.ExportedModel` per bundle.
        """
        if self.run_dir is None:
            raise UserError("a search without an output directory keeps no weights to export; pass out=...")
        return export_run(self.run_dir, out, select=select, quantize=quantize)

    def front_table(self) -> list[dict[str, Any]]:
        """Each front member as ``{'id', 'genome', <objective>: value, ...}``."""
        return [{"id": t.id, "genome": str(t.genome), **{o.name: t.metrics[o.name] for o in self.objectives}}
                for t in self.front]


def default_strategy(problem: Problem) -> Strategy:
    """The strategy a :class:`Study` searches with when given none (measurements: docs/benchmarks.md).

    - A problem that trains networks (:attr:`~evonas.core.problem.Problem.trains_networks`):
      LEMONADE, whose children inherit their parents' trained weights (as ``evonas search`` on
      the mobilenet space).
    - A space that encodes genomes as integer vectors (``encode`` and ``cardinalities``):
      surrogate-assisted Pareto local search, which leads Optuna's TPE under the honest NB201
      protocol and on the discretised ZDT and DTLZ problems.
    - Otherwise aging evolution with a population of 50 (a population of 10 cannot hold a
      multi-objective front).
    """
    if problem.trains_networks:
        from populations.lemonade import Lemonade

        return Lemonade()
    if _encodes(problem.space):
        from populations.surrogate_pls import SurrogateParetoLocalSearch

        return SurrogateParetoLocalSearch()
    from populations.aging import AgingEvolution

    return AgingEvolution(population=50)


def _encodes(space: SearchSpace) -> bool:
    if not (callable(getattr(space, "encode", None)) and callable(getattr(space, "cardinalities", None))):
        return False
    try:
        return len(space.cardinalities()) > 0
    except NotImplementedError:
        return False


@dataclass
class Study:
    """A search you run in one call (:meth:`optimize`) or drive yourself (:meth:`ask` / :meth:`tell`).

    Args:
        problem: evaluates candidates (e.g. ``ImageClassification.from_options(...)``); omit
            it for ask/tell around your own training loop and give ``space`` and ``objectives``.
        strategy: the search strategy object, e.g. ``AgingEvolution(population=20)``, or a
            registered name (``"aging"``); omitted, :func:`default_strategy` picks one for the
            problem (LEMONADE when it trains networks, else spls where the space encodes
            genomes, else aging evolution with a population of 50).
        constraints: bounds on metrics; violating candidates never enter the front.
        seed: the run seed; every random choice derives from it.
        out: the run directory (must be new or empty); ``None`` keeps everything in memory.
        space: the search space of an ask/tell study (any :class:`~evonas.core.problem.SearchSpace`).
        objectives: the objectives of an ask/tell study (``bounds`` optional: without, the
            hypervolume is relative to the range seen).
        initial: genomes evaluated before the strategy's first proposal.
        callbacks: called after every trial with ``(search, trial)``.
        config: a JSON-able description stored with the run (the CLI stores its parsed flags).
        noise_aware: keep the front with :class:`~evonas.core.pareto.NoiseAwareArchive`:
            measured objectives (latency) compare as intervals, and two members are measured
            again side by side before one is dropped on overlapping intervals. A resumed run
            keeps the setting it was created with.
        schedule: a multi-fidelity schedule, e.g. ``evonas.ASHA(min_epochs=1, max_epochs=9, eta=3)``:
            candidates start at its bottom rung and the best continue from their checkpoints;
            the front holds only the highest fidelity reached. None: every candidate at the
            problem's own fidelity. A resumed run must be given the schedule it was created with.
    """

    problem: Problem | None = None
    strategy: Strategy | None = None
    constraints: Sequence[Constraint] = ()
    seed: int = 0
    out: str | Path | None = None
    space: SearchSpace | None = None
    objectives: Sequence[Objective] | None = None
    initial: Sequence[Any] = ()
    callbacks: Sequence[Callback] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    noise_aware: bool = False
    schedule: Schedule | None = None
    _resume: RunStore | None = field(default=None, repr=False)
    """The store of the run being resumed, opened as its writer by :meth:`resume`."""

    def __post_init__(self) -> None:
        if self.problem is None:
            if self.space is None or self.objectives is None:
                raise UserError("a Study needs a problem, or a space and objectives for ask/tell")
            self.problem = AskTellProblem(self.space, self.objectives, (c.name for c in self.constraints))
        elif self.objectives is not None and tuple(self.objectives) != tuple(self.problem.objectives):
            raise UserError("give objectives to the problem, not to a Study that has one")
        check_objectives(tuple(self.problem.objectives))
        if isinstance(self.strategy, str):
            from evonas.api.registry import strategy_class

            self.strategy = strategy_class(self.strategy)()
        if self.strategy is None:
            self.strategy = default_strategy(self.problem)
        self.constraints = tuple(self.constraints)
        # every check that can fail runs before the run directory is created
        self.strategy.bind(self.problem)
        self.strategy.check(len(self.problem.objectives))
        self.problem.check_metric_names(self.constraints)
        self.problem.check_constraints(self.constraints)
        self.problem.bounds()
        if self.schedule is not None:
            self.schedule.start(self.problem)  # refuses a problem that takes no budget
        store = self._open_store()
        archive = NoiseAwareArchive() if self.noise_aware else ParetoArchive()
        self.search = Search(self.problem, self.strategy, _Budget(), self.seed, store, self.constraints,
                             tuple(self.callbacks), initial=tuple(self.initial), archive=archive,
                             schedule=self.schedule)
        if self._resume is not None:
            self.search.resume()  # reads the stored run through the writer's own connection

    def _open_store(self) -> RunStore | None:
        if self.out is None:
            return None
        if self._resume is not None:
            store = self._resume
            stored = [o["name"] for o in store.config.get("objectives", [])]
            if stored != [o.name for o in self.problem.objectives]:
                store.close()
                raise UserError(f"run '{self.out}' optimised {stored}, this study {[o.name for o in self.problem.objectives]}")
            self.noise_aware = bool(store.config.get("noise_aware", False))
            store.record_resume()
            return store
        check_new_run_dir(Path(self.out))
        return RunStore.create(self.out, self._describe())

    def _describe(self) -> dict[str, Any]:
        space_cfg = getattr(self.problem.space, "config", None)
        return {
            "search": dict(self.config),
            "seed": self.seed,
            "problem": self.problem.describe(),
            "strategy": {"class": f"{type(self.strategy).__module__}:{type(self.strategy).__qualname__}"},
            "objectives": [o.describe() for o in self.problem.objectives],
            "constraints": [str(c) for c in self.constraints],
            "noise_aware": self.noise_aware,
            "space_config": dataclasses.asdict(space_cfg) if dataclasses.is_dataclass(space_cfg) else None,
        }

    @classmethod
    def resume(cls, run_dir: str | Path | RunStore, problem: Problem | None = None,
               strategy: Strategy | str | None = None, **kwargs: Any) -> "Study":
        """Reopen ``run_dir``: the stored candidates are replayed into ``strategy``, so a
        deterministic strategy continues exactly where it stopped; candidates that were running
        when it stopped are evaluated again.

        The seed, constraints and noise-awareness are the stored ones; given again, they must
        agree with the store, else :class:`UserError`. The problem's objectives must be the
        stored ones, and a given strategy must be of the stored class. The run store is opened
        once, as the run's writer (``run_dir`` may be that store, already open).
        """
        store = run_dir if isinstance(run_dir, RunStore) else RunStore.open(run_dir, writer=True)
        try:
            kwargs, strategy = _resumed_settings(store, strategy, kwargs)
            return cls(problem, strategy, out=store.run_dir, _resume=store, **kwargs)
        except BaseException:
            store.close()
            raise

    # -- running ------------------------------------------------------------------------
    def optimize(self, evaluations: int | None = None, seconds: float | None = None,
                 executor: Executor | None = None, epochs: float | None = None) -> SearchResult:
        """Evaluate candidates until ``evaluations`` in total (resumed ones included), ``seconds`` pass,
        or ``epochs`` of training are spent (a promotion counts the epochs it adds), whichever first.

        ``executor`` evaluates them: :class:`~evonas.engine.executors.InProcess` (the default,
        one at a time), :class:`~evonas.engine.executors.ProcessPool` (local cores) or
        :class:`~evonas.engine.ray_executor.RayPool` (a Ray cluster). With several workers the
        strategy is asked again as soon as one is free, and trials are told as they finish.
        """
        criteria: list[Termination] = []
        if evaluations is not None:
            if evaluations < 1:
                raise UserError(f"evaluations must be at least 1, got {evaluations}")
            criteria.append(MaxEvaluations(evaluations))
        if seconds is not None:
            criteria.append(MaxSeconds(seconds))
        if epochs is not None:
            if not 0 < epochs < float("inf"):
                raise UserError(f"epochs must be positive and finite, got {epochs}")
            criteria.append(MaxEpochs(epochs))
        if not criteria:
            raise UserError("optimize() needs evaluations=N, seconds=S and/or epochs=E")
        self.search.termination = AnyOf(tuple(criteria))
        if executor is not None and self.search.store is not None:
            self.search.store.set_meta("executor", executor.describe())
        self.search.run(executor)
        return self.result()

    def ask(self) -> Pending:
        """The next candidate to evaluate; it is recorded as running until :meth:`tell`."""
        return self.search.ask()

    def tell(self, pending: Pending, result: Mapping[str, float] | Evaluation | BaseException | str,
             scores: Mapping[str, float] | None = None) -> Trial:
        """Report ``pending``'s metrics (every objective and constrained metric by name), or its failure.

        ``scores`` are held-out metrics, e.g. a test accuracy: stored with the trial and in
        :attr:`SearchResult.scores`, never shown to the strategy (which learns from ``result`` only).
        """
        if scores and not isinstance(result, (BaseException, str)):
            evaluation = result if isinstance(result, Evaluation) else Evaluation(dict(result))
            result = dataclasses.replace(evaluation, scores={**evaluation.scores, **scores})
        return self.search.tell(pending, result)

    def result(self) -> SearchResult:
        """The front, every trial, the hypervolume history and the scores so far."""
        s = self.search
        run_dir = None if s.store is None else s.store.run_dir
        return SearchResult(tuple(self.problem.objectives), s.front(), list(s.trials), list(s.hv_history), run_dir,
                            dict(s.scores), s.normalisation)

    @property
    def trials(self) -> list[Trial]:
        """Every trial told so far, in the order told."""
        return list(self.search.trials)

    def close(self) -> None:
        """Close the run store (releasing its lock) and the problem's resources."""
        if self.search.store is not None:
            self.search.store.close()
        self.problem.close()

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _resumed_settings(store: RunStore, strategy: Strategy | str | None, kwargs: dict[str, Any]
                      ) -> tuple[dict[str, Any], Strategy | None]:
    """The study's keywords with the stored seed, constraints and noise-awareness, and the strategy,
    each checked against what the run was created with."""
    config = store.config
    stored: dict[str, Any] = {"seed": config.get("seed", 0), "noise_aware": bool(config.get("noise_aware", False)),
                              "constraints": tuple(Constraint.parse(c) for c in config.get("constraints", []))}
    kwargs = dict(kwargs)
    for name, value in stored.items():
        if name in kwargs and _setting(name, kwargs[name]) != _setting(name, value):
            raise UserError(f"run '{store.run_dir}' was created with {name}={_setting(name, value)!r}, "
                            f"not {_setting(name, kwargs[name])!r}; leave it out to resume with the stored one")
        kwargs[name] = value
    if isinstance(strategy, str):
        from evonas.api.registry import strategy_class

        strategy = strategy_class(strategy)()
    made_by = (config.get("strategy") or {}).get("class")
    if strategy is not None:
        made = f"{type(strategy).__module__}:{type(strategy).__qualname__}"
        if made_by not in (None, made):
            raise UserError(f"run '{store.run_dir}' was searched with {made_by}, not {made}")
    return kwargs, strategy


def _setting(name: str, value: Any) -> Any:
    """A setting in comparable form (constraints as their strings)."""
    return [str(c) for c in value] if name == "constraints" else value


class _Budget:
    """Placeholder termination until :meth:`Study.optimize` sets one (ask/tell needs none)."""

    def done(self, search: Search) -> bool:
        raise UserError("call Study.optimize(evaluations=N) to run, or drive the study with ask() and tell()")
