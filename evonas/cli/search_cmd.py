"""``evonas search``, ``evonas front`` and ``evonas history``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from evonas.config import SearchConfig

# flag -> (SearchConfig field, type, help); defaults come from SearchConfig itself.
SEARCH_FLAGS = {
    "--space": ("space", str, "search space / problem (default: mobilenet, real training)"),
    "--target": ("target", str, "hardware target for latency: edge-cpu, cpu, onnx-cpu"),
    "--data": ("data", str, "dataset path (IDX dir, CIFAR-10 dir, .npz, image folder); default: embedded digits"),
    "--evaluations": ("evaluations", int, "number of candidates to evaluate"),
    "--epochs": ("epochs", float, "training epochs per candidate (the fidelity)"),
    "--strategy": ("strategy", str, "search strategy: aging, random, ..."),
    "--seed": ("seed", int, "run seed"),
    "--device": ("device", str, "training device: cpu or cuda"),
    "--cost": ("cost", str, "cost objective: latency_ms, flops or params"),
    "--population": ("population", int, "population size of evolutionary strategies"),
    "--sample-size": ("sample_size", int, "tournament size of aging evolution"),
    "--val-fraction": ("val_fraction", float, "fraction of the data held out for validation"),
    "--batch-size": ("batch_size", int, "training batch size"),
    "--lr": ("lr", float, "peak learning rate"),
    "--time-limit": ("time_limit", float, "stop after this many seconds"),
}


def register_search(sub) -> None:
    p = sub.add_parser("search", help="evolve networks and keep the accuracy/cost Pareto front")
    defaults = SearchConfig()
    for flag, (name, typ, text) in SEARCH_FLAGS.items():
        p.add_argument(flag, dest=name, type=typ, default=None,
                       help=f"{text} [default: {getattr(defaults, name)}]")
    p.add_argument("--constraint", dest="constraints", action="append", default=None,
                   help="bound on a metric, e.g. 'latency_ms<=5' (repeatable)")
    p.add_argument("--init", action="append", default=None, metavar="GENOME",
                   help="a genome string evaluated first, e.g. a known architecture (repeatable)")
    p.add_argument("--out", default=None, help="run directory [default: runs/<strategy>-<target>-<time>]")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue a stored run (after a crash, or with a larger --evaluations)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_search)


def config_from_args(args) -> SearchConfig:
    """Only the flags the user gave override :class:`SearchConfig`'s defaults."""
    given = {name: getattr(args, name) for name, *_ in SEARCH_FLAGS.values() if getattr(args, name) is not None}
    if args.constraints:
        given["constraints"] = tuple(args.constraints)
    if args.init:
        given["init"] = tuple(args.init)
    return SearchConfig(**given)


def run_search(args) -> int:
    from evonas.api import new_search, resume_search

    callbacks = [] if args.no_progress else [ProgressBar()]
    if args.resume:
        search = resume_search(args.resume, callbacks, evaluations=args.evaluations)
        out = Path(args.resume)
    else:
        cfg = config_from_args(args)
        out = Path(args.out or f"runs/{cfg.strategy}-{cfg.target}-{time.strftime('%Y%m%d-%H%M%S')}")
        search = new_search(cfg, out, callbacks)
    for cb in callbacks:
        cb.start(search)
    front = search.run()
    for cb in callbacks:
        cb.close()
    failed = sum(not t.ok for t in search.trials)
    print(f"\n{search.n_evaluated} candidates evaluated ({failed} failed), hypervolume {search.hypervolume():.4f}")
    print_front(search.store, out)
    search.store.close()
    return 0 if front else 1


class ProgressBar:
    """tqdm bar: evaluations done, front size and hypervolume."""

    def start(self, search) -> None:
        from tqdm import tqdm

        total = getattr(search.termination, "n", None)
        if total is None and hasattr(search.termination, "criteria"):
            total = next((c.n for c in search.termination.criteria if hasattr(c, "n")), None)
        self.bar = tqdm(total=total, initial=search.n_evaluated, desc="search", unit="eval",
                        file=sys.stderr, dynamic_ncols=True)
        self.hv = search.hypervolume()

    def __call__(self, search, trial) -> None:
        self.hv = search.hypervolume()
        self.bar.set_postfix(front=len(search.archive), hv=f"{self.hv:.4f}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def print_front(store, run_dir) -> None:
    """The stored run's front as a table, then the run directory."""
    from evonas.api import stored_front, stored_objectives

    names = [o.name for o in stored_objectives(store)]
    extra = [m for m in ("params", "flops") if m not in names]
    front = stored_front(store)
    header = ["id", *names, *extra, "genome"]
    rows = [[str(r.id), *(_fmt(r.metrics.get(n)) for n in names + extra), r.genome] for r in front]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    print(f"Pareto front ({len(front)} members):")
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1])
    print(f"run directory: {run_dir}")


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def register_front(sub) -> None:
    p = sub.add_parser("front", help="print the Pareto front of a run")
    p.add_argument("run_dir")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run_front)


def run_front(args) -> int:
    from evonas.api import stored_front, stored_objectives
    from evonas.store import RunStore

    with RunStore.open(args.run_dir) as store:
        if args.format == "json":
            names = [o.name for o in stored_objectives(store)]
            print(json.dumps([_row_json(r, names) for r in stored_front(store)], indent=2))
        else:
            print_front(store, args.run_dir)
    return 0


def register_history(sub) -> None:
    p = sub.add_parser("history", help="every candidate of a run with its lineage")
    p.add_argument("run_dir")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run_history)


def run_history(args) -> int:
    from evonas.api import stored_objectives
    from evonas.store import RunStore

    with RunStore.open(args.run_dir) as store:
        names = [o.name for o in stored_objectives(store)]
        rows = store.candidates()
    if args.format == "json":
        print(json.dumps([_row_json(r, names) for r in rows], indent=2))
        return 0
    print("  ".join(["id", "parent", "operator".ljust(16), "status", *names, "genome"]))
    for r in rows:
        values = [_fmt(r.metrics.get(n)) for n in names]
        parent = "-" if r.parent_id is None else str(r.parent_id)
        print("  ".join([str(r.id), parent, r.operator.ljust(16), r.status, *values, r.genome]))
    return 0


def _row_json(r, names) -> dict:
    return {
        "id": r.id, "genome": r.genome, "parent_id": r.parent_id, "operator": r.operator,
        "status": r.status, "fidelity": r.fidelity,
        "objectives": {n: r.metrics[n] for n in names if n in r.metrics},
        "metrics": r.metrics, "violation": r.violation, "error": r.error,
        "eval_seconds": r.eval_seconds,
    }
