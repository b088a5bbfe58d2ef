"""``evonas search``, ``evonas front`` and ``evonas history``: flags -> RunSpec -> Study."""

from __future__ import annotations

import inspect
import json
import logging
import math
import sys
import time
from pathlib import Path

from evonas.cli.plugin_flags import add_plugin_flags, given_options, peek

def _flags(owner: str):
    from evonas.api.spec import SEARCH_COMMAND

    return [f for f in SEARCH_COMMAND if f.owner == owner]


def executor_from_args(args):
    """The :class:`~evonas.api.spec.ExecutorSpec` of the parallel-evaluation flags given."""
    from evonas.api.spec import ExecutorSpec

    return ExecutorSpec(**{f.dest: getattr(args, f.dest) for f in _flags("executor")
                           if getattr(args, f.dest) is not None})


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _add_flag(parser, flag, sections: dict) -> None:
    """One :class:`~evonas.api.spec.Flag` as an argparse argument, its default shown as declared."""
    from evonas.api.spec import ExecutorSpec, RunSpec

    owners = {"run": RunSpec, "executor": ExecutorSpec}
    default = flag.default
    if default is None and flag.owner in owners and flag.type is not None and not flag.repeat:
        default = owners[flag.owner].__dataclass_fields__[flag.dest].default
    text = flag.help if default is None else f"{flag.help} [default: {default}]"
    if flag.group is not None and flag.group not in sections:
        sections[flag.group] = parser.add_argument_group(flag.group)
    where = parser if flag.group is None else sections[flag.group]
    kwargs = {"dest": flag.dest, "default": None, "help": text.replace("%", "%%")}
    if flag.type is None:
        where.add_argument(flag.flag, action="store_true", **kwargs)
        return
    kwargs["type"] = _csv if flag.type == "csv" else flag.type
    if flag.metavar is not None:
        kwargs["metavar"] = flag.metavar
    where.add_argument(flag.flag, action="append" if flag.repeat else "store", **kwargs)


def register_search(sub, argv: list[str]) -> None:
    from evonas.api import registry
    from evonas.api.spec import SEARCH_COMMAND, RunSpec

    p = sub.add_parser("search", help="evolve networks and keep the Pareto front of the objectives")
    sections: dict = {}
    for flag in SEARCH_COMMAND:
        _add_flag(p, flag, sections)
    if argv[:1] == ["search"]:  # the chosen plug-ins' own flags (an unknown name is a one-line error)
        defaults = RunSpec.__dataclass_fields__
        space = peek(argv, "--space", defaults["space"].default)
        strategy = peek(argv, "--strategy", None) or registry.default_strategy(space)
        add_plugin_flags(p, registry.strategy_class(strategy), "strategy", f"options of --strategy {strategy}")
        problem = registry.problem_factory(space)
        add_plugin_flags(p, problem, "problem", f"options of --space {space}")
        target = peek(argv, "--target", defaults["target"].default)
        schedule = peek(argv, "--schedule", defaults["schedule"].default)
        add_plugin_flags(p, registry.schedule_class(schedule), "schedule", f"options of --schedule {schedule}")
        if "objectives" in inspect.signature(problem).parameters:
            # only spaces whose objectives are measured on a target (table spaces never import torch)
            add_plugin_flags(p, registry.target_factory(target), "target", f"options of --target {target}")
    p.set_defaults(func=run_search)


def spec_from_args(args):
    """Only the flags the user gave override :class:`~evonas.api.spec.RunSpec`'s defaults."""
    from evonas.api.spec import RunSpec

    given = {}
    for flag in _flags("run"):
        value = getattr(args, flag.dest)
        if flag.type is None:
            if value:
                given[flag.dest] = True
        elif value is not None and (flag.type != "csv" or value) and (not flag.repeat or value):
            given[flag.dest] = tuple(value) if flag.repeat or flag.type == "csv" else value
    return RunSpec(**given, strategy_options=given_options(args, "strategy"),
                   problem_options=given_options(args, "problem"), target_options=given_options(args, "target"),
                   schedule_options=given_options(args, "schedule"))


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
            result = study.optimize(evaluations=evaluations, seconds=spec.time_limit, executor=executor,
                                    epochs=spec.epoch_budget)
    finally:
        for cb in callbacks:
            cb.close()
    if not args.quiet:
        failed = sum(not t.ok for t in result.trials)
        hv = result.hypervolume[-1][2] if result.hypervolume else 0.0
        label = result.normalisation.label() if result.normalisation is not None else "hypervolume"
        print(f"\n{len(result.trials)} candidates evaluated ({failed} failed), {label} {hv:.4f}")
        # the front the search holds, nothing re-read from the store
        print_front(result.front, result.objectives, out, hypervolume_line(result.hypervolume, result.normalisation),
                    front_note(study.search.front_fidelity))
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


def print_front(front, objectives, run_dir, line: str | None = None, note: str | None = None) -> None:
    """A front (trials) as a table of every objective, custom ones included, then the run directory;
    ``line`` (:func:`hypervolume_line`) and ``note`` (:func:`front_note`) go in the title."""
    names = [o.name for o in objectives]
    extra = [m for m in ("params", "flops") if m not in names and front and m in front[0].metrics]
    units = {o.name: o.unit for o in objectives}
    header = ["id", *(f"{n} ({units[n]})" if units.get(n) else n for n in names), *extra, "genome"]
    rows = [[str(t.id), *(_fmt_metric(t.metrics, n) for n in names + extra), str(t.genome)] for t in front]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    print(f"Pareto front ({len(front)} members" + "".join(f"; {x}" for x in (note, line) if x) + "):")
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
        print_front(run.front, run.objectives, args.run_dir, hypervolume_line(run.hypervolume, run.normalisation),
                    front_note(run.front_fidelity))
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
    print("  ".join(["id", "parent", "operator".ljust(16), "status", "fidelity", *names, "genome"]))
    for t in run.trials:
        values = [_fmt(t.metrics.get(n)) for n in names]
        parent = "-" if t.parent_id is None else str(t.parent_id)
        print("  ".join([str(t.id), parent, t.operator.ljust(16), t.state.value, _fmt(t.fidelity).ljust(8), *values,
                         str(t.genome)]))
    if run.schedule:
        print(rungs_line(run))
    line = hypervolume_line(run.hypervolume, run.normalisation)
    if line:
        print(line)
    return 0


def rungs_line(run) -> str:
    """How many candidates reached each rung of a scheduled run (a promotion continues its parent)."""
    counts = {level: sum(1 for t in run.trials if t.ok and t.fidelity is not None and math.isclose(t.fidelity, level))
              for level in run.schedule["rungs"]}
    reached = ", ".join(f"{n} at {_fmt(level)}" for level, n in counts.items())
    return f"rungs ({run.schedule['schedule']}, promotions continue their parent): {reached}"


def front_note(fidelity) -> str | None:
    """The note a front under a schedule carries: the fidelity it was taken at."""
    return None if fidelity is None else f"at fidelity {_fmt(fidelity)}, the highest reached; lower rungs left out"


def _row_json(t, names) -> dict:
    return {
        "id": t.id, "genome": str(t.genome), "parent_id": t.parent_id, "operator": t.operator,
        "status": t.state.value, "fidelity": t.fidelity,
        "objectives": {n: t.metrics[n] for n in names if n in t.metrics},
        "metrics": t.metrics, "violation": t.violation, "error": t.error,
        "eval_seconds": t.eval_seconds,
    }
