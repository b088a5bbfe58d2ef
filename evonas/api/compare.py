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

``results.json`` holds ``problem`` (its options and description, the objectives searched and
those scored on), ``checkpoints``, ``seeds``, ``peers``, ``strategies`` -> name -> metric -> one
list per seed of the values at the checkpoints, ``seconds`` per run, and ``summary`` -> name ->
metric -> reported checkpoint -> median and quartiles; ``<metric>.png`` plots the median and
interquartile band per strategy and peer.
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
from evonas.api.spec import RunSpec, build_constraints, build_problem
from evonas.core.options import instantiate, options_of
from evonas.engine.driver import MaxEvaluations, Search
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
    summary and the printed table show (the user's ``--checkpoints``, else the last one).
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
        """Parse and check the user's options (raises :class:`UserError`)."""
        names = _names(strategies)
        peer_names = _names(peers)
        if not names and not peer_names:
            raise UserError("--strategies must name at least one strategy, e.g. random,aging")
        repeated = sorted({n for n in names + peer_names if (names + peer_names).count(n) > 1})
        if repeated:
            raise UserError(f"--strategies and --peers name {', '.join(repeated)} more than once")
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
        for name in names + peer_names:
            plan.strategy(name)
        if peer_names:
            import_optuna()
        return plan

    @property
    def runs(self) -> tuple[str, ...]:
        """Every strategy, then every peer."""
        return self.strategies + self.peers

    def strategy(self, name: str):
        """A fresh strategy (or peer) ``name`` with those of the shared options it declares."""
        if name in self.peers:
            return registry.peer_class(name)()
        return strategy_with(name, self.strategy_options)


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def parse_checkpoints(text: str) -> tuple[int, ...]:
    """``"100,300,1000"`` -> (100, 300, 1000); raises :class:`UserError` naming a bad entry."""
    values = []
    for part in _names(text):
        if not part.isdigit() or int(part) < 1:
            raise UserError(f"--checkpoints takes positive evaluation counts like 100,300,1000, got {part!r}")
        values.append(int(part))
    if not values:
        raise UserError("--checkpoints needs at least one evaluation count, e.g. 100,300,1000")
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
    those. ``best_feasible`` is the score of the feasible candidate the search rates best.
    """

    def __init__(self, problem: Problem, checkpoints: tuple[int, ...]):
        self.checkpoints = set(checkpoints)
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
        if trial.feasible and (self.best is None or trial.values[self.accuracy] < self.best[0]):
            metrics = {**trial.metrics, **search.scores.get(trial.id, {})}
            self.best = (trial.values[self.accuracy], float(metrics[self.scored.name]))
        if self.relative and trial.feasible:
            self.hv.see(to_min_vector(self.score_objectives, {**trial.metrics, **search.scores.get(trial.id, {})}))
        if search.n_evaluated not in self.checkpoints:
            return
        self.hv.record(search.n_evaluated, 0.0, search.scored_front())
        self.series["best_feasible"].append(np.nan if self.best is None else self.best[1])
        self.finish()

    def finish(self) -> dict[str, list[float]]:
        """The series at every checkpoint so far; a relative hypervolume is on the range seen so far."""
        self.series["hv"] = [hv for _, _, hv in self.hv.entries()]
        if self.reference is not None:
            self.series["hv_gap"] = [1.0 - hv / self.reference for hv in self.series["hv"]]
        return self.series


def run_one(problem: Problem, plan: BenchmarkPlan, name: str, seed: int, constraints) -> dict[str, list[float]]:
    """One strategy (or peer), one seed: the metrics at the plan's checkpoints, and its seconds."""
    recorder = _Recorder(problem, plan.checkpoints)
    t0 = time.perf_counter()
    search = Search(problem, plan.strategy(name), MaxEvaluations(plan.evaluations), seed,
                    constraints=constraints, callbacks=(recorder,))
    search.run()
    return {**recorder.finish(), "seconds": time.perf_counter() - t0}


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
               "evaluations": plan.evaluations, "checkpoints": list(plan.checkpoints),
               "reported_checkpoints": list(plan.reported),
               "seeds": list(range(plan.seeds)), "peers": list(plan.peers), "strategies": {}, "seconds": {}}
    if plan.peers:
        results["peer_budget"] = PEER_BUDGET
    relative = normalisation([o.name for o in problem.score_objectives], *problem.score_bounds()).seen
    if relative:  # table problems declare every bound: their results stay as they were
        results["problem"]["hv_relative_to"] = list(relative)
    if isinstance(problem, KnowsTrueFront) and hasattr(problem, "floor_hypervolume"):
        results["problem"]["hv_gap_floor"] = 1.0 - problem.floor_hypervolume() / problem.reference_hypervolume()
    for name, runs in _all_runs(plan, problem, constraints, jobs):
        results["seconds"][name] = [run.pop("seconds") for run in runs]
        metrics = {m: [run[m] for run in runs] for m in runs[0]}
        results["strategies"][name] = metrics
        log(f"{name}: {plan.seeds} seeds x {plan.evaluations} evaluations, {sum(results['seconds'][name]):.1f} s; "
            + ", ".join(f"median final {m} {_median([r[-1] for r in v]):.4g}" for m, v in metrics.items()))
    results["summary"] = summarize(results)
    return results


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
    main metric, and its ratio to ``baseline``'s median where that ran."""
    metric = main_metric(results)
    checkpoints = [str(c) for c in results["reported_checkpoints"]]
    summary = results["summary"]
    base = summary.get(baseline, {}).get(metric) if baseline else None
    labels = {name: name + (" (peer)" if name in results.get("peers", ()) else "") for name in results["strategies"]}
    width = max(map(len, labels.values())) + 2
    rows = [[f"{metric} @{c}" for c in checkpoints]]
    for name in results["strategies"]:
        cells = []
        for c in checkpoints:
            st = summary[name][metric][c]
            ratio = f" {st['median'] / base[c]['median']:.2f}x" if base and base[c]["median"] > 0 else ""
            cells.append(f"{st['median']:.4f} [{st['q25']:.4f}, {st['q75']:.4f}]{ratio}")
        rows.append(cells)
    cell = max(len(c) for row in rows for c in row) + 3
    lines = [(["", *labels.values()][i]).ljust(width) + "".join(c.rjust(cell) for c in row)
             for i, row in enumerate(rows)]
    columns = results["problem"]
    lines.append(f"searched on {', '.join(columns['objectives'])}; scored on {', '.join(columns['scored_on'])}; "
                 f"median [quartiles] over {len(results['seeds'])} seeds" + (f"; ratio to {baseline}" if base else ""))
    if "hv_gap_floor" in columns:
        lines.append(f"hv_gap floor {columns['hv_gap_floor']:.4f}: every cell evaluated, the front chosen on what "
                     "the search sees and scored on the score column")
    if "hv_relative_to" in columns:
        lines.append(f"hv: hypervolume (relative to the range seen: {', '.join(columns['hv_relative_to'])}; "
                     "each run on the range it saw, so runs compare only roughly)")
    if results.get("peers"):
        lines.append(results["peer_budget"])
    return lines


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
        peer = name in results.get("peers", ())
        line, = ax.plot(x, median, label=name + (" (peer)" if peer else ""), linestyle="--" if peer else "-")
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.2)
    if metric == "hv_gap" and np.all(np.array([v for m in results["strategies"].values() for v in m[metric]]) > 0):
        ax.set_yscale("log")
    for c in results.get("reported_checkpoints", ()):
        ax.axvline(c, color="grey", linewidth=0.5)
    ax.set_xlabel("evaluations")
    ax.set_ylabel(f"{metric} (scored on {results['problem']['scored_on'][0]})")
    ax.set_title(f"{results['problem']['space']}: median and IQR over {len(results['seeds'])} seeds")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
