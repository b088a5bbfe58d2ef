"""Reproducible strategy comparisons: every strategy, many seeds, the same problem and driver.

Each (strategy, seed) run goes through :class:`~evonas.engine.driver.Search` without a run store.
At each checkpoint (a number of evaluations) it records:

- ``hv``: hypervolume of the feasible front found, objectives min-max scaled by the
  problem's :meth:`~evonas.core.problem.Problem.bounds`, reference point (1, ..., 1);
- ``hv_gap`` = 1 - HV(front found) / HV(true front), for problems that know their true
  front (``nb201``: the whole table); 0 means the whole true front was found;
- ``best_feasible``: the best value of the first maximised objective (accuracy) among
  feasible candidates, NaN before the first one.

``results.json`` holds ``problem`` (its options and description), ``checkpoints``,
``seeds`` and ``strategies`` -> name -> metric -> one list per seed of the values at the
checkpoints; ``<metric>.png`` plots the median and interquartile band per strategy.
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
from evonas.core.pareto import hypervolume

RESULTS = "results.json"


@runtime_checkable
class KnowsTrueFront(Protocol):
    """A problem whose best reachable hypervolume is known (e.g. a complete table)."""

    def reference_hypervolume(self) -> float: ...


def hv_gap(values: np.ndarray, lower: np.ndarray, upper: np.ndarray, reference_hv: float) -> float:
    """1 - HV(values) / ``reference_hv``, objectives scaled by ``lower``/``upper``, reference (1, ..., 1)."""
    return 1.0 - hypervolume(values, lower, upper) / reference_hv


@dataclass(frozen=True)
class BenchmarkPlan:
    """What to run: the problem (in ``spec``), strategies with shared options, budget, seeds and checkpoints."""

    spec: RunSpec
    strategies: tuple[str, ...]
    evaluations: int
    seeds: int
    checkpoints: tuple[int, ...]
    strategy_options: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def create(cls, spec: RunSpec, strategies: str, evaluations: int, seeds: int,
               strategy_options: dict | None = None, n_checkpoints: int = 20) -> "BenchmarkPlan":
        """Parse and check the user's options (raises :class:`UserError`)."""
        names = tuple(s.strip() for s in strategies.split(",") if s.strip())
        if not names:
            raise UserError("--strategies must name at least one strategy, e.g. random,aging")
        if evaluations < 1 or seeds < 1:
            raise UserError(f"--evaluations and --seeds must be at least 1, got {evaluations} and {seeds}")
        checkpoints = tuple(sorted({max(1, round(evaluations * k / n_checkpoints)) for k in range(1, n_checkpoints + 1)}))
        plan = cls(dataclasses.replace(spec, evaluations=evaluations), names, evaluations, seeds, checkpoints,
                   dict(strategy_options or {}))
        for name in names:
            plan.strategy(name)
        return plan

    def strategy(self, name: str):
        """A fresh strategy ``name`` with those of the shared options it declares."""
        return strategy_with(name, self.strategy_options)


def strategy_with(name: str, options: dict):
    """A fresh strategy ``name`` given those of ``options`` it declares (the others are ignored)."""
    cls = registry.strategy_class(name)
    declared = {o.name for o in options_of(cls)}
    return instantiate(cls, {k: v for k, v in options.items() if k in declared})


class _Recorder:
    """Driver callback: the metrics at each checkpoint of one run."""

    def __init__(self, problem: Problem, checkpoints: tuple[int, ...]):
        self.checkpoints = set(checkpoints)
        self.reference = problem.reference_hypervolume() if isinstance(problem, KnowsTrueFront) else None
        self.accuracy = next((i for i, o in enumerate(problem.objectives) if o.direction is Direction.MAXIMIZE), 0)
        self.sign = problem.objectives[self.accuracy].direction.value
        self.best = np.nan
        self.series: dict[str, list[float]] = {"hv": [], "best_feasible": []}
        if self.reference is not None:
            self.series["hv_gap"] = []

    def __call__(self, search: Search, trial: Trial) -> None:
        if trial.feasible:
            value = self.sign * trial.values[self.accuracy]
            self.best = value if np.isnan(self.best) else max(self.best, value)
        if search.n_evaluated not in self.checkpoints:
            return
        hv = search.hypervolume()
        self.series["hv"].append(hv)
        self.series["best_feasible"].append(float(self.best))
        if self.reference is not None:
            self.series["hv_gap"].append(1.0 - hv / self.reference)


def run_one(problem: Problem, plan: BenchmarkPlan, name: str, seed: int, constraints) -> dict[str, list[float]]:
    """One strategy, one seed: the metrics at the plan's checkpoints."""
    recorder = _Recorder(problem, plan.checkpoints)
    search = Search(problem, plan.strategy(name), MaxEvaluations(plan.evaluations), seed,
                    constraints=constraints, callbacks=(recorder,))
    search.run()
    return recorder.series


def run_benchmark(plan: BenchmarkPlan, log: Callable[[str], None] = lambda line: None) -> dict:
    """Run every strategy for seeds 0 .. ``plan.seeds`` - 1; returns the results document."""
    problem = build_problem(plan.spec)
    constraints = build_constraints(plan.spec, problem)
    problem.check_constraints(constraints)
    results = {"problem": {"space": plan.spec.space, **plan.spec.problem_options, **problem.describe(),
                           "objectives": [o.name for o in problem.objectives],
                           "strategy_options": plan.strategy_options,
                           "constraints": [str(c) for c in constraints]},
               "evaluations": plan.evaluations, "checkpoints": list(plan.checkpoints),
               "seeds": list(range(plan.seeds)), "strategies": {}}
    for name in plan.strategies:
        t0 = time.perf_counter()
        runs = [run_one(problem, plan, name, seed, constraints) for seed in range(plan.seeds)]
        metrics = {m: [run[m] for run in runs] for m in runs[0]}
        results["strategies"][name] = metrics
        log(f"{name}: {plan.seeds} seeds x {plan.evaluations} evaluations in {time.perf_counter() - t0:.1f} s; "
            + ", ".join(f"median final {m} {_median([r[-1] for r in v]):.4g}" for m, v in metrics.items()))
    return results


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
    metrics = ["hv_gap" if "hv_gap" in next(iter(results["strategies"].values())) else "hv"]
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
        line, = ax.plot(x, median, label=name)
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.2)
    if metric == "hv_gap" and np.all(np.array([v for m in results["strategies"].values() for v in m[metric]]) > 0):
        ax.set_yscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel(metric)
    ax.set_title(f"{results['problem']['space']}: median and IQR over {len(results['seeds'])} seeds")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
