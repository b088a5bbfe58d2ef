"""Reproducible strategy comparisons: every strategy and peer, many seeds, the same problem and driver.

Each (strategy, seed) run goes through :class:`~evonas.engine.driver.Search` without a run store.
The search sees only the problem's metrics; a front is *scored* on the problem's
:attr:`~evonas.core.problem.Problem.score_objectives` (for ``nb201 --score-column``: a held-out
column the search never sees, as in EvoXBench's protocol). At each checkpoint (a number of
evaluations) a run records:

- ``hv``: hypervolume of the front found, valued on the score objectives, min-max scaled by
  :meth:`~evonas.core.problem.Problem.score_bounds`, reference point (1, ..., 1); where a score
  objective has no bounds, by the range the run saw (``problem.hv_relative_to`` names them);
- ``hv_gap`` = 1 - HV(front found) / HV(true front of the score objectives), for problems that
  know their true front (``nb201``: the whole table); 0 means the whole true front was found;
- ``best_feasible``: the score of the feasible candidate with the best searched accuracy, NaN
  before the first one.

Peers (``--peers``: Optuna's samplers, :mod:`populations.optuna_peers`) run through the same
driver, seeds and metrics; their budget counts distinct genomes.

With ``--epoch-budget E`` budgets and checkpoints count training epochs (the problem's
fidelities: ``nb201 --fidelity-columns``), and with ``--schedule asha`` every strategy and peer
runs twice at that equal budget: at full fidelity (``spls``) and under the schedule
(``spls+asha``). A promotion counts the epochs it adds; a checkpoint's front is the one held
before the first trial that passes it, so no run is scored on more epochs than the checkpoint.

``results.json`` holds ``problem`` (its options and description, the objectives searched and
those scored on), ``checkpoints`` (in ``budget_unit``: evaluations or epochs), ``seeds``, ``peers``,
``strategies`` -> name -> metric -> one list per seed of the values at the checkpoints, ``seconds``
per run, and ``summary`` -> name -> metric -> reported checkpoint -> median and quartiles;
``<metric>.png`` plots the median and interquartile band per strategy and peer. An epoch budget
adds ``budget_unit``, ``epoch_budget``, ``schedule`` (with its rungs), and per run ``trials`` and
``epochs`` (spent).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from evonas.api import registry
from evonas.api.spec import RunSpec, build_constraints, build_problem, build_schedule
from evonas.core.options import instantiate, options_of
from evonas.engine.driver import MaxEpochs, MaxEvaluations, Search
from evonas.core.errors import UserError
from evonas.core.objectives import Direction
from evonas.core.problem import Problem, Trial
from evonas.core.objectives import to_min_vector
from evonas.core.pareto import HypervolumeHistory, hypervolume, normalisation
from populations.optuna_peers import import_optuna

RESULTS = "results.json"


@runtime_checkable
class KnowsTrueFront(Protocol):
    """A problem whose best reachable hypervolume of its score objectives is known (e.g. a complete table)."""

    def reference_hypervolume(self) -> float: ...


PEER_BUDGET = ("a peer's budget counts distinct genomes: a repeat it proposes is answered from what it "
               "was told and costs it nothing, which favours the peer")


def hv_gap(values: np.ndarray, lower: np.ndarray, upper: np.ndarray, reference_hv: float) -> float:
    """1 - HV(values) / ``reference_hv``, objectives scaled by ``lower``/``upper``, reference (1, ..., 1)."""
    return 1.0 - hypervolume(values, lower, upper) / reference_hv


@dataclass(frozen=True)
class BenchmarkPlan:
    """What to run: the problem (in ``spec``), strategies and peers with shared options, budget, seeds.

    ``checkpoints`` are the budgets every run records its metrics at; ``reported`` those the
    summary and the printed table show (the user's ``--checkpoints``, else the last one). With
    ``epoch_budget`` (``spec.epoch_budget``) budgets count epochs; with a schedule
    (``spec.schedule``) every run is made with and without it (:attr:`runs`).
    """

    spec: RunSpec
    strategies: tuple[str, ...]
    evaluations: int
    seeds: int
    checkpoints: tuple[int, ...]
    strategy_options: dict = dataclasses.field(default_factory=dict)
    peers: tuple[str, ...] = ()
    reported: tuple[int, ...] = ()

    @classmethod
    def create(cls, spec: RunSpec, strategies: str, evaluations: int | None, seeds: int,
               strategy_options: dict | None = None, n_checkpoints: int = 20, peers: str = "",
               checkpoints: str | None = None) -> "BenchmarkPlan":
        """Parse and check the user's options (raises :class:`UserError`).

        ``spec.epoch_budget`` switches to epochs (``evaluations`` must then be None); a
        ``spec.schedule`` other than none needs it."""
        if spec.epoch_budget is not None or spec.schedule != registry.NO_SCHEDULE:
            return cls._create_in_epochs(spec, strategies, evaluations, seeds, strategy_options, n_checkpoints,
                                         peers, checkpoints)
        names, peer_names = _check_names(strategies, peers)
        reported = parse_checkpoints(checkpoints) if checkpoints else ()
        evaluations = evaluations if evaluations is not None else (max(reported) if reported else 300)
        if evaluations < 1 or seeds < 1:
            raise UserError(f"--evaluations and --seeds must be at least 1, got {evaluations} and {seeds}")
        if reported and max(reported) > evaluations:
            raise UserError(f"--checkpoints go up to {max(reported)}, past --evaluations {evaluations}")
        spaced = {max(1, round(evaluations * k / n_checkpoints)) for k in range(1, n_checkpoints + 1)}
        plan = cls(dataclasses.replace(spec, evaluations=evaluations), names, evaluations, seeds,
                   tuple(sorted(spaced | set(reported))), dict(strategy_options or {}), peer_names,
                   reported or (evaluations,))
        return plan._checked()

    @classmethod
    def _create_in_epochs(cls, spec: RunSpec, strategies: str, evaluations: int | None, seeds: int,
                          strategy_options: dict | None, n_checkpoints: int, peers: str,
                          checkpoints: str | None) -> "BenchmarkPlan":
        """The plan of an epoch budget (``spec.epoch_budget``), with and without ``spec.schedule``."""
        names, peer_names = _check_names(strategies, peers)
        if spec.epoch_budget is None:
            raise UserError(f"--schedule {spec.schedule} compares at an equal epoch budget: give --epoch-budget E")
        if evaluations is not None:
            raise UserError("--evaluations and --epoch-budget are two budgets: give one")
        budget = spec.epoch_budget
        reported = parse_checkpoints(checkpoints, "epochs") if checkpoints else ()
        if seeds < 1:
            raise UserError(f"--seeds must be at least 1, got {seeds}")
        if reported and max(reported) > budget:
            raise UserError(f"--checkpoints go up to {max(reported)}, past --epoch-budget {budget:g}")
        spec = _with_table_rungs(spec)
        spaced = {max(1, round(budget * k / n_checkpoints)) for k in range(1, n_checkpoints + 1)}
        plan = cls(spec, names, 0, seeds, tuple(sorted(spaced | set(reported))), dict(strategy_options or {}),
                   peer_names, reported or (round(budget),))
        return plan._checked()

    def _checked(self) -> "BenchmarkPlan":
        for name in self.strategies + self.peers:
            self.strategy(name)
        if self.peers:
            import_optuna()
        return self

    @property
    def in_epochs(self) -> bool:
        """Whether budgets and checkpoints count epochs (``--epoch-budget``), not evaluations."""
        return self.spec.epoch_budget is not None

    @property
    def scheduled(self) -> bool:
        """Whether every run is also made under ``spec.schedule``."""
        return self.spec.schedule != registry.NO_SCHEDULE

    @property
    def runs(self) -> tuple[str, ...]:
        """Every strategy, then every peer; under a schedule each one twice: ``name`` at full
        fidelity, then ``name+SCHEDULE``."""
        names = self.strategies + self.peers
        if not self.scheduled:
            return names
        return tuple(run for name in names for run in (name, f"{name}+{self.spec.schedule}"))

    def strategy(self, name: str):
        """A fresh strategy or peer for run ``name`` (``NAME+SCHEDULE`` too), given the shared options it declares."""
        name = self.base_name(name)
        if name in self.peers:
            return registry.peer_class(name)()
        return strategy_with(name, self.strategy_options)

    def base_name(self, run: str) -> str:
        """The strategy or peer of run ``run`` (``spls+asha`` -> ``spls``)."""
        suffix = f"+{self.spec.schedule}"
        return run[:-len(suffix)] if self.scheduled and run.endswith(suffix) else run

    def schedule(self, run: str):
        """A fresh schedule for run ``run`` (None: full fidelity)."""
        return build_schedule(self.spec) if self.scheduled and run != self.base_name(run) else None

    def termination(self):
        """Each run's budget: ``MaxEpochs`` with ``--epoch-budget``, else ``MaxEvaluations``."""
        return MaxEpochs(self.spec.epoch_budget) if self.in_epochs else MaxEvaluations(self.evaluations)


def _check_names(strategies: str, peers: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names, peer_names = _names(strategies), _names(peers)
    if not names and not peer_names:
        raise UserError("--strategies must name at least one strategy, e.g. random,aging")
    repeated = sorted({n for n in names + peer_names if (names + peer_names).count(n) > 1})
    if repeated:
        raise UserError(f"--strategies and --peers name {', '.join(repeated)} more than once")
    return names, peer_names


def _with_table_rungs(spec: RunSpec) -> RunSpec:
    """``spec`` checked for an epoch budget: its problem must report fidelities; a schedule's
    ``min_epochs``/``max_epochs`` left unset span a table's levels, and the schedule must fit them."""
    problem = build_problem(spec)
    if problem.fidelities is None:
        raise UserError(f"--epoch-budget counts epochs, and {spec.space} reports none; e.g. nb201 --fidelity-columns "
                        "12=c10_test_acc_12ep_1run,200=c10valid_valid_acc_200ep_mean")
    if spec.schedule == registry.NO_SCHEDULE:
        return spec
    options = dict(spec.schedule_options)
    if problem.fidelities:
        declared = {o.name for o in options_of(registry.schedule_class(spec.schedule))}
        defaults = {"min_epochs": min(problem.fidelities), "max_epochs": max(problem.fidelities)}
        options = {**{k: v for k, v in defaults.items() if k in declared}, **options}
    spec = dataclasses.replace(spec, schedule_options=options)
    build_schedule(spec).start(problem)
    return spec


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def parse_checkpoints(text: str, unit: str = "evaluations") -> tuple[int, ...]:
    """``"100,300,1000"`` -> (100, 300, 1000); raises :class:`UserError` naming a bad entry."""
    values = []
    count = f"{unit[:-1]} count"  # evaluation count, epoch count
    for part in _names(text):
        if not part.isdigit() or int(part) < 1:
            raise UserError(f"--checkpoints takes positive {count}s like 100,300,1000, got {part!r}")
        values.append(int(part))
    if not values:
        raise UserError(f"--checkpoints needs at least one {count}, e.g. 100,300,1000")
    return tuple(sorted(set(values)))


def strategy_with(name: str, options: dict):
    """A fresh strategy ``name`` given those of ``options`` it declares (the others are ignored)."""
    cls = registry.strategy_class(name)
    declared = {o.name for o in options_of(cls)}
    return instantiate(cls, {k: v for k, v in options.items() if k in declared})


class _Recorder:
    """Driver callback: the metrics at each checkpoint of one run, on the problem's score objectives.

    The front is the one the search holds (chosen on what it saw); its members are valued on
    :attr:`~evonas.core.problem.Problem.score_objectives` and compared with the true front of
    those. ``best_feasible`` is the score of the feasible candidate the search rates best (under a
    schedule, among the trials at the highest fidelity reached).

    With ``epochs``, checkpoints count the epochs spent, and a checkpoint is recorded as the run
    stood before the first trial that passes it (or after the trial that lands on it).
    """

    def __init__(self, problem: Problem, checkpoints: tuple[int, ...], epochs: bool = False):
        self.checkpoints = set(checkpoints)
        self.epochs = epochs
        self.waiting = sorted(checkpoints)  # epoch checkpoints not recorded yet
        self.before: tuple[np.ndarray, float] | None = None  # (scored front, best) after the previous trial
        self.top: float | None = None  # the highest fidelity told so far
        self.score_objectives = problem.score_objectives
        self.hv = HypervolumeHistory([o.name for o in self.score_objectives], *problem.score_bounds())
        self.relative = self.hv.normalisation.relative  # then every checkpoint is rescored on the final range
        known = isinstance(problem, KnowsTrueFront) and not self.relative
        self.reference = problem.reference_hypervolume() if known else None
        self.accuracy = next((i for i, o in enumerate(problem.objectives) if o.direction is Direction.MAXIMIZE), 0)
        self.scored = problem.score_objectives[self.accuracy]
        self.best: tuple[float, float] | None = None  # (search value, score) of the best feasible candidate
        self.series: dict[str, list[float]] = {"hv": [], "best_feasible": []}
        if self.reference is not None:
            self.series["hv_gap"] = []

    def __call__(self, search: Search, trial: Trial) -> None:
        if self.epochs:
            self._passed(search.epochs_spent)
        self._see(search, trial)
        if self.epochs:
            self._landed(search)
            return
        if search.n_evaluated not in self.checkpoints:
            return
        self._record(search.n_evaluated, search.scored_front(), self._best_score())
        self.finish()

    def _see(self, search: Search, trial: Trial) -> None:
        if trial.fidelity is not None and (self.top is None or trial.fidelity > self.top):
            self.top, self.best = trial.fidelity, None  # a higher rung: lower rungs' accuracies no longer compare
        at_top = trial.fidelity is None or trial.fidelity == self.top
        if at_top and trial.feasible and (self.best is None or trial.values[self.accuracy] < self.best[0]):
            metrics = {**trial.metrics, **search.scores.get(trial.id, {})}
            self.best = (trial.values[self.accuracy], float(metrics[self.scored.name]))
        if self.relative and trial.feasible:
            self.hv.see(to_min_vector(self.score_objectives, {**trial.metrics, **search.scores.get(trial.id, {})}))

    def _passed(self, spent: float) -> None:
        """Record the checkpoints the latest trial went past as the run stood before it."""
        front, best = self.before if self.before is not None else (np.empty((0, len(self.score_objectives))), np.nan)
        while self.waiting and self.waiting[0] < spent:
            self._record(self.waiting.pop(0), front, best)

    def _landed(self, search: Search) -> None:
        """Keep the state after this trial; record the checkpoints it reached exactly."""
        self.before = (search.scored_front(), self._best_score())
        while self.waiting and self.waiting[0] <= search.epochs_spent:
            self._record(self.waiting.pop(0), *self.before)

    def flush(self) -> None:
        """Record the epoch checkpoints a run that stopped short of them never reached, as it ended."""
        while self.before is not None and self.waiting:
            self._record(self.waiting.pop(0), *self.before)

    def _best_score(self) -> float:
        return np.nan if self.best is None else self.best[1]

    def _record(self, at: int, front: np.ndarray, best: float) -> None:
        self.hv.record(at, 0.0, front)
        self.series["best_feasible"].append(best)
        self.finish()

    def finish(self) -> dict[str, list[float]]:
        """The series at every checkpoint so far; a relative hypervolume is on the range seen so far."""
        self.series["hv"] = [hv for _, _, hv in self.hv.entries()]
        if self.reference is not None:
            self.series["hv_gap"] = [1.0 - hv / self.reference for hv in self.series["hv"]]
        return self.series


def run_one(problem: Problem, plan: BenchmarkPlan, name: str, seed: int, constraints) -> dict[str, list[float]]:
    """One run (a strategy or peer, under a schedule for ``NAME+SCHEDULE``), one seed: the metrics
    at the plan's checkpoints, and its seconds (with an epoch budget also its trials and epochs)."""
    recorder = _Recorder(problem, plan.checkpoints, epochs=plan.in_epochs)
    t0 = time.perf_counter()
    search = Search(problem, plan.strategy(name), plan.termination(), seed,
                    constraints=constraints, callbacks=(recorder,), schedule=plan.schedule(name))
    search.run()
    recorder.flush()
    spent = {"trials": search.n_evaluated, "epochs": search.epochs_spent} if plan.in_epochs else {}
    return {**recorder.finish(), "seconds": time.perf_counter() - t0, **spent}


_WORKER: dict = {}


def _start_worker(plan: BenchmarkPlan) -> None:
    problem = build_problem(plan.spec)
    _WORKER.update(problem=problem, constraints=build_constraints(plan.spec, problem))


def _run_in_worker(plan: BenchmarkPlan, name: str, seed: int) -> dict:
    return run_one(_WORKER["problem"], plan, name, seed, _WORKER["constraints"])


def run_benchmark(plan: BenchmarkPlan, log: Callable[[str], None] = lambda line: None, jobs: int = 1) -> dict:
    """Run every strategy and peer for seeds 0 .. ``plan.seeds`` - 1; returns the results document.

    ``jobs`` > 1 spreads the (strategy, seed) runs over that many processes; each run is
    seeded on its own, so the results do not depend on ``jobs``.
    """
    problem = build_problem(plan.spec)
    constraints = build_constraints(plan.spec, problem)
    problem.check_constraints(constraints)
    results = {"problem": {"space": plan.spec.space, **plan.spec.problem_options, **problem.describe(),
                           "objectives": [o.name for o in problem.objectives],
                           "scored_on": [o.name for o in problem.score_objectives],
                           "strategy_options": plan.strategy_options,
                           "constraints": [str(c) for c in constraints]},
               "evaluations": None if plan.in_epochs else plan.evaluations, "checkpoints": list(plan.checkpoints),
               "reported_checkpoints": list(plan.reported),
               "seeds": list(range(plan.seeds)), "peers": list(plan.peers), "strategies": {}, "seconds": {}}
    if plan.peers:
        results["peer_budget"] = PEER_BUDGET
    relative = normalisation([o.name for o in problem.score_objectives], *problem.score_bounds()).seen
    if relative:  # table problems declare every bound: their results stay as they were
        results["problem"]["hv_relative_to"] = list(relative)
    if isinstance(problem, KnowsTrueFront) and hasattr(problem, "floor_hypervolume"):
        results["problem"]["hv_gap_floor"] = 1.0 - problem.floor_hypervolume() / problem.reference_hypervolume()
    if plan.in_epochs:
        results.update(_epoch_fields(plan, problem))
    for name, runs in _all_runs(plan, problem, constraints, jobs):
        results["seconds"][name] = [run.pop("seconds") for run in runs]
        for key in ("trials", "epochs"):
            if plan.in_epochs:
                results[key][name] = [run.pop(key) for run in runs]
        metrics = {m: [run[m] for run in runs] for m in runs[0]}
        results["strategies"][name] = metrics
        budget = f"{plan.spec.epoch_budget:g} epochs" if plan.in_epochs else f"{plan.evaluations} evaluations"
        log(f"{name}: {plan.seeds} seeds x {budget}, {sum(results['seconds'][name]):.1f} s; "
            + ", ".join(f"median final {m} {_median([r[-1] for r in v]):.4g}" for m, v in metrics.items()))
    results["summary"] = summarize(results)
    return results


def _epoch_fields(plan: BenchmarkPlan, problem: Problem) -> dict:
    """What ``results.json`` adds for an epoch budget: the unit, the budget, the schedule and its
    rungs, and per run the trials told and the epochs spent."""
    schedule = plan.schedule(plan.runs[-1])
    if schedule is not None:
        schedule.start(problem)
    return {"budget_unit": "epochs", "epoch_budget": plan.spec.epoch_budget,
            "schedule": None if schedule is None else schedule.describe(), "trials": {}, "epochs": {}}


def _all_runs(plan: BenchmarkPlan, problem: Problem, constraints, jobs: int):
    """(name, [run per seed]) for every strategy and peer, in plan order."""
    if jobs <= 1:
        for name in plan.runs:
            yield name, [run_one(problem, plan, name, seed, constraints) for seed in range(plan.seeds)]
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_worker, initargs=(plan,)) as pool:
        futures = {name: [pool.submit(_run_in_worker, plan, name, seed) for seed in range(plan.seeds)]
                   for name in plan.runs}
        for name in plan.runs:
            yield name, [f.result() for f in futures[name]]


def summarize(results: dict) -> dict:
    """Per strategy and metric: median, first and third quartile over seeds at each reported checkpoint."""
    where = [results["checkpoints"].index(c) for c in results["reported_checkpoints"]]
    summary = {}
    for name, metrics in results["strategies"].items():
        summary[name] = {}
        for metric, runs in metrics.items():
            values = np.array(runs, dtype=float)[:, where]
            stats = {}
            for i, c in enumerate(results["reported_checkpoints"]):
                column = values[:, i][np.isfinite(values[:, i])]
                q25, q50, q75 = np.percentile(column, [25, 50, 75]) if len(column) else (np.nan,) * 3
                stats[str(c)] = {"median": float(q50), "q25": float(q25), "q75": float(q75)}
            summary[name][metric] = stats
    return summary


def main_metric(results: dict) -> str:
    """``hv_gap`` where the true front is known, else ``hv``."""
    return "hv_gap" if "hv_gap" in next(iter(results["strategies"].values())) else "hv"


def format_table(results: dict, baseline: str | None = "optuna-tpe") -> list[str]:
    """The summary as text: per strategy and reported checkpoint, the median [q25, q75] of the
    main metric, and its ratio to ``baseline``'s median where that ran (under a schedule: each
    ``NAME+SCHEDULE`` row's ratio to ``NAME`` at full fidelity)."""
    metric = main_metric(results)
    checkpoints = [str(c) for c in results["reported_checkpoints"]]
    summary = results["summary"]
    schedule = (results.get("schedule") or {}).get("schedule")
    if schedule:
        baseline = None
    base = summary.get(baseline, {}).get(metric) if baseline else None
    labels = {name: name + (" (peer)" if _base_name(name, schedule) in results.get("peers", ()) else "")
              for name in results["strategies"]}
    width = max(map(len, labels.values())) + 2
    unit = "ep" if results.get("budget_unit") == "epochs" else ""
    rows = [[f"{metric} @{c}{unit}" for c in checkpoints]]
    for name in results["strategies"]:
        twin = summary[_base_name(name, schedule)][metric] if schedule and name.endswith(f"+{schedule}") else base
        cells = []
        for c in checkpoints:
            st = summary[name][metric][c]
            ratio = f" {st['median'] / twin[c]['median']:.2f}x" if twin and twin[c]["median"] > 0 else ""
            cells.append(f"{st['median']:.4f} [{st['q25']:.4f}, {st['q75']:.4f}]{ratio}")
        rows.append(cells)
    cell = max(len(c) for row in rows for c in row) + 3
    lines = [(["", *labels.values()][i]).ljust(width) + "".join(c.rjust(cell) for c in row)
             for i, row in enumerate(rows)]
    columns = results["problem"]
    lines.append(f"searched on {', '.join(columns['objectives'])}; scored on {', '.join(columns['scored_on'])}; "
                 f"median [quartiles] over {len(results['seeds'])} seeds" + (f"; ratio to {baseline}" if base else ""))
    if schedule:
        lines.append(f"each +{schedule} row's ratio to the same strategy at full fidelity; {_schedule_note(results)}")
    if columns.get("honest") is False:
        lines.append(f"NOT HONEST: the search reads the score column {columns['score_column']} itself (the top "
                     "fidelity's column: this dataset has no held-out 200-epoch column)")
    if "hv_gap_floor" in columns:
        lines.append(f"hv_gap floor {columns['hv_gap_floor']:.4f}: every cell evaluated, the front chosen on what "
                     "the search sees and scored on the score column")
    if "hv_relative_to" in columns:
        lines.append(f"hv: hypervolume (relative to the range seen: {', '.join(columns['hv_relative_to'])}; "
                     "each run on the range it saw, so runs compare only roughly)")
    if results.get("peers"):
        lines.append(results["peer_budget"])
    return lines


def _base_name(name: str, schedule: str | None) -> str:
    return name[:-len(schedule) - 1] if schedule and name.endswith(f"+{schedule}") else name


def _schedule_note(results: dict) -> str:
    s = results["schedule"]
    rungs = ", ".join(f"{r:g}" for r in s.get("rungs", ()))
    return (f"{s['schedule']}: rungs {rungs}, eta {s.get('eta', '?'):g}; budget {results['epoch_budget']:g} epochs "
            "per run (a promotion counts the epochs it adds; a checkpoint's front is the one held before the "
            "first trial that passes it)")


def _median(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


def check_out_dir(out: Path) -> None:
    """Refuse an output directory that already holds results (nothing is overwritten)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out '{out}' exists and is not a directory")
    if (out / RESULTS).exists():
        raise UserError(f"'{out}' already holds {RESULTS}; choose another --out")


def write_results(results: dict, out: Path) -> list[Path]:
    """Write ``results.json`` and one plot per metric; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS
    path.write_text(json.dumps(results, indent=1))
    metrics = [main_metric(results)]
    if results["problem"]["constraints"]:
        metrics.append("best_feasible")
    return [path] + [plot_metric(results, m, out / f"{m}.png") for m in metrics]


def plot_metric(results: dict, metric: str, path: Path) -> Path:
    """Median and interquartile band of ``metric`` per strategy against evaluations."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    x = results["checkpoints"]
    for name, metrics in results["strategies"].items():
        values = np.array(metrics[metric], dtype=float)
        q25, median, q75 = np.nanpercentile(values, [25, 50, 75], axis=0)
        peer = _base_name(name, (results.get("schedule") or {}).get("schedule")) in results.get("peers", ())
        line, = ax.plot(x, median, label=name + (" (peer)" if peer else ""), linestyle="--" if peer else "-")
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.2)
    if metric == "hv_gap" and np.all(np.array([v for m in results["strategies"].values() for v in m[metric]]) > 0):
        ax.set_yscale("log")
    for c in results.get("reported_checkpoints", ()):
        ax.axvline(c, color="grey", linewidth=0.5)
    ax.set_xlabel(results.get("budget_unit", "evaluations"))
    ax.set_ylabel(f"{metric} (scored on {results['problem']['scored_on'][0]})")
    ax.set_title(f"{results['problem']['space']}: median and IQR over {len(results['seeds'])} seeds")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
