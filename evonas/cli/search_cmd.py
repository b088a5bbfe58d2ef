"""``evonas search``, ``evonas front`` and ``evonas history``: flags -> RunSpec -> Study."""

from __future__ import annotations

import inspect
import json
import logging
import sys
import time
from pathlib import Path

from evonas.cli.plugin_flags import add_plugin_flags, given_options, peek

SHARED = {  # flag -> (RunSpec field, type, help); defaults come from RunSpec itself
    "--space": ("space", str, "search space / problem: mobilenet (real training), nb201 or ofa"),
    "--strategy": ("strategy", str, "search strategy: random, aging, de, nsga2, pls, spls, bounded, lemonade "
                                    "(its options are listed below; see --strategy NAME --help)"),
    "--target": ("target", str, "hardware target of latency: edge-cpu, cpu, onnx-cpu, gpu, onnx-gpu, or module:factory"),
    "--evaluations": ("evaluations", int, "number of candidates to evaluate (in total, when resuming)"),
    "--seed": ("seed", int, "run seed"),
    "--time-limit": ("time_limit", float, "stop after this many seconds"),
    "--lut": ("lut", str, "predict latency from this lookup table instead of measuring (evonas profile build-lut)"),
    "--max-latency": ("max_latency", float, "bound on latency_ms (nb201: on the first cost column)"),
}


EXECUTION = {  # flag -> (ExecutorSpec field, type, help)
    "--workers": ("workers", int, "candidates evaluated at once"),
    "--backend": ("backend", str, "local (this process, one worker), process (local process pool; the default "
                                  "for --workers > 1) or ray (pip install 'evonas[ray]')"),
    "--address": ("address", str, "Ray cluster address (ray; default: start a local Ray instance)"),
    "--trial-timeout": ("trial_timeout", float, "seconds a candidate may take; it is then stopped and recorded "
                                                "as failed"),
    "--threads-per-worker": ("threads", int, "CPU threads per worker (default: usable cores / workers)"),
    "--gpus-per-worker": ("gpus_per_worker", float, "fraction of a GPU per Ray worker"),
}


def executor_from_args(args):
    """The :class:`~evonas.api.spec.ExecutorSpec` of the parallel-evaluation flags given."""
    from evonas.api.spec import ExecutorSpec

    return ExecutorSpec(**{name: getattr(args, name) for name, *_ in EXECUTION.values()
                           if getattr(args, name) is not None})


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def register_search(sub, argv: list[str]) -> None:
    from evonas.api import registry
    from evonas.api.spec import ExecutorSpec, RunSpec

    p = sub.add_parser("search", help="evolve networks and keep the Pareto front of the objectives")
    defaults = RunSpec.__dataclass_fields__
    shown = {"strategy": ", ".join(f"{s} on {space}" for space, s in registry.DEFAULT_STRATEGIES.items())}
    for flag, (name, typ, text) in SHARED.items():
        p.add_argument(flag, dest=name, type=typ, default=None,
                       help=f"{text} [default: {shown.get(name, defaults[name].default)}]")
    p.add_argument("--objectives", type=_csv, default=None,
                   help="built-in objectives (mobilenet): accuracy, latency_ms, params, flops, peak_memory_mb "
                        "[default: accuracy,latency_ms]")
    p.add_argument("--custom-objective", dest="custom_objectives", action="append", default=None,
                   metavar="NAME=module:function:min|max[:free]",
                   help="a user objective computed by function(model, genome, context); ':free' marks it "
                        "training-free; a 'bounds = (low, high)' attribute on the function fixes its "
                        "hypervolume range, else the hypervolume is relative to the range seen (repeatable)")
    p.add_argument("--constraint", dest="constraints", action="append", default=None,
                   help="bound on a metric, e.g. 'latency_ms<=5' (repeatable)")
    p.add_argument("--init", action="append", default=None, metavar="GENOME",
                   help="a genome string evaluated first, e.g. a known architecture (repeatable)")
    p.add_argument("--out", default=None, help="run directory [default: runs/<strategy>-<target>-<time>]")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue a stored run exactly (after a crash, or with a larger --evaluations)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--quiet", action="store_true",
                   help="print nothing but errors: no progress bar, no summary, no front table")
    p.add_argument("--json-log", metavar="FILE", default=None,
                   help="append one JSON object per evaluated candidate to FILE (JSON Lines)")
    scale = p.add_argument_group("parallel evaluation")
    for flag, (name, typ, text) in EXECUTION.items():
        scale.add_argument(flag, dest=name, type=typ, default=None,
                           help=f"{text} [default: {ExecutorSpec.__dataclass_fields__[name].default}]")
    p.add_argument("--noise-aware", action="store_true", default=None,
                   help="compare latencies as intervals (IQR): one beats another only where their intervals "
                        "separate, and two front members are re-measured side by side before one is dropped")
    p.add_argument("--force-lut", action="store_true", default=None,
                   help="use a --lut table built on another machine or library version")
    if argv[:1] == ["search"]:  # the chosen plug-ins' own flags (an unknown name is a one-line error)
        space = peek(argv, "--space", defaults["space"].default)
        strategy = peek(argv, "--strategy", None) or registry.default_strategy(space)
        add_plugin_flags(p, registry.strategy_class(strategy), "strategy", f"options of --strategy {strategy}")
        problem = registry.problem_factory(space)
        add_plugin_flags(p, problem, "problem", f"options of --space {space}")
        target = peek(argv, "--target", defaults["target"].default)
        if "objectives" in inspect.signature(problem).parameters and registry.target_factory(target) is not None:
            # only spaces whose objectives are measured on a target (table spaces never import torch)
            add_plugin_flags(p, registry.target_factory(target), "target", f"options of --target {target}")
    p.set_defaults(func=run_search)


def spec_from_args(args):
    """Only the flags the user gave override :class:`~evonas.api.spec.RunSpec`'s defaults."""
    from evonas.api.spec import RunSpec

    given = {name: getattr(args, name) for name, *_ in SHARED.values() if getattr(args, name) is not None}
    for name in ("objectives", "custom_objectives", "constraints", "init"):
        if getattr(args, name):
            given[name] = tuple(getattr(args, name))
    for name in ("force_lut", "noise_aware"):
        if getattr(args, name):
            given[name] = True
    return RunSpec(**given, strategy_options=given_options(args, "strategy"),
                   problem_options=given_options(args, "problem"), target_options=given_options(args, "target"))


def run_search(args) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from evonas.api.callbacks import JsonLog
    from evonas.api.launch import open_study, resume_study

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    bar = None if args.no_progress or args.quiet else ProgressBar()
    executor = executor_from_args(args).build()
    spec = None if args.resume else spec_from_args(args)  # every flag checked before anything is written
    log = JsonLog(args.json_log) if args.json_log else None
    callbacks = [cb for cb in (bar, log) if cb is not None]
    if args.resume:
        study, spec = resume_study(args.resume, callbacks)
        out = Path(args.resume)
        evaluations = args.evaluations or spec.evaluations
    else:
        out = Path(args.out or Path("runs") / spec.run_name(time.strftime("%Y%m%d-%H%M%S")))
        study = open_study(spec, out, callbacks)
        evaluations = spec.evaluations
    if bar is not None:
        bar.start(study.search, evaluations)
    try:
        with logging_redirect_tqdm():
            result = study.optimize(evaluations=evaluations, seconds=spec.time_limit, executor=executor)
    finally:
        for cb in callbacks:
            cb.close()
    if not args.quiet:
        failed = sum(not t.ok for t in result.trials)
        hv = result.hypervolume[-1][2] if result.hypervolume else 0.0
        label = result.normalisation.label() if result.normalisation is not None else "hypervolume"
        print(f"\n{len(result.trials)} candidates evaluated ({failed} failed), {label} {hv:.4f}")
        # the front the search holds, nothing re-read from the store
        print_front(result.front, result.objectives, out, hypervolume_line(result.hypervolume, result.normalisation))
    study.close()
    return 0 if result.front else 1


class ProgressBar:
    """tqdm bar: evaluations done, elapsed and estimated time, failures, front size and hypervolume."""

    def start(self, search, total: int | None) -> None:
        from tqdm import tqdm

        self.failed = sum(not t.ok for t in search.trials)
        self.bar = tqdm(total=total, initial=search.n_evaluated, desc="search", unit="eval",
                        file=sys.stderr, dynamic_ncols=True)

    def __call__(self, search, trial) -> None:
        self.failed += not trial.ok
        hv = search.hv_history[-1][2] if search.hv_history else 0.0
        self.bar.set_postfix(failed=self.failed, front=len(search.archive), hv=f"{hv:.4f}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def print_front(front, objectives, run_dir, line: str | None = None) -> None:
    """A front (trials) as a table of every objective, custom ones included, then the run directory;
    ``line`` (:func:`hypervolume_line`) goes in the title."""
    names = [o.name for o in objectives]
    extra = [m for m in ("params", "flops") if m not in names and front and m in front[0].metrics]
    units = {o.name: o.unit for o in objectives}
    header = ["id", *(f"{n} ({units[n]})" if units.get(n) else n for n in names), *extra, "genome"]
    rows = [[str(t.id), *(_fmt_metric(t.metrics, n) for n in names + extra), str(t.genome)] for t in front]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    print(f"Pareto front ({len(front)} members" + (f"; {line}" if line else "") + "):")
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1])
    print(f"run directory: {run_dir}")


def hypervolume_line(history, normalisation) -> str | None:
    """'hypervolume 0.4321' of a front's last hypervolume, or 'hypervolume (relative to the range seen: NAME) ...'."""
    if normalisation is None or not history:
        return None
    return f"{normalisation.label()} {history[-1][2]:.4f}"


def _fmt_metric(metrics: dict, name: str) -> str:
    """A metric's value, with its interval [low, high] where it was measured with one."""
    from evonas.core.objectives import interval_names

    low, high = interval_names(name)
    if low in metrics and high in metrics:
        return f"{_fmt(metrics.get(name))} [{_fmt(metrics[low])}, {_fmt(metrics[high])}]"
    return _fmt(metrics.get(name))


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def register_front(sub, argv: list[str]) -> None:
    p = sub.add_parser("front", help="print the Pareto front of a run")
    p.add_argument("run_dir")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run_front)


def run_front(args) -> int:
    from evonas.engine.results import StoredRun

    run = StoredRun.read(args.run_dir)
    if args.format == "json":
        names = [o.name for o in run.objectives]
        print(json.dumps([_row_json(t, names) for t in run.front], indent=2))
    else:
        print_front(run.front, run.objectives, args.run_dir, hypervolume_line(run.hypervolume, run.normalisation))
    return 0


def register_history(sub, argv: list[str]) -> None:
    p = sub.add_parser("history", help="every candidate of a run with its lineage")
    p.add_argument("run_dir")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run_history)


def run_history(args) -> int:
    from evonas.engine.results import StoredRun

    run = StoredRun.read(args.run_dir)
    names = [o.name for o in run.objectives]
    if args.format == "json":
        print(json.dumps([_row_json(t, names) for t in run.trials], indent=2))
        return 0
    print("  ".join(["id", "parent", "operator".ljust(16), "status", *names, "genome"]))
    for t in run.trials:
        values = [_fmt(t.metrics.get(n)) for n in names]
        parent = "-" if t.parent_id is None else str(t.parent_id)
        print("  ".join([str(t.id), parent, t.operator.ljust(16), t.state.value, *values, str(t.genome)]))
    line = hypervolume_line(run.hypervolume, run.normalisation)
    if line:
        print(line)
    return 0


def _row_json(t, names) -> dict:
    return {
        "id": t.id, "genome": str(t.genome), "parent_id": t.parent_id, "operator": t.operator,
        "status": t.state.value, "fidelity": t.fidelity,
        "objectives": {n: t.metrics[n] for n in names if n in t.metrics},
        "metrics": t.metrics, "violation": t.violation, "error": t.error,
        "eval_seconds": t.eval_seconds,
    }
