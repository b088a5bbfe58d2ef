"""Throughput of the default strategy (LEMONADE) with 1 vs 2 workers, through the CLI (issue 28).

    python benchmarks/lemonade_throughput.py [--evaluations 24] [--epochs 2] [--seed 3] [--rounds 3]
        [--schedule "--schedule asha --min-epochs 0.5 --max-epochs 4.5"]
        [--flags "--data ../shared/data/mnist --resolution 14"]
        [--out benchmarks/results/lemonade_throughput.json]

Runs ``evonas search --target edge-cpu --objectives accuracy,params --evaluations N --epochs E
--seed S --workers W`` for W = 1 (the default single worker: in-process, torch on every core)
and W = 2 (the process pool, one thread per worker), alternating 1, 2, 1, 2, ... for
``--rounds`` rounds, so a machine shared with other work affects both alike. Children inherit
their parent's weights, so unlike ``parallel_throughput.py`` (random genomes) this includes the
driver's share: LEMONADE's generations (cheap metrics of every candidate child), weights loaded
from and saved to the run store. Per run it records the wall seconds (worker start-up
included), the CPU seconds of the run's processes (driver and workers), the median of the
candidates' stored evaluation seconds, and the load average before and after; the speed-up is
the median over rounds of each round's 1-worker wall time over its 2-worker wall time. Under a
schedule the two runs may promote different candidates (promotions follow completion order), so
it also records the training epochs each run spent (a promotion counts the epochs it adds) and
gives the speed-up in epochs per minute beside the one in evaluations per minute. Writes (and
prints) one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(workers: int, evaluations: int, budget: list[str], seed: int) -> dict:
    """Wall and CPU seconds, epochs spent and the median evaluation seconds of one CLI search
    (``budget``: its ``--epochs`` or schedule flags and any other search flags)."""
    with tempfile.TemporaryDirectory(prefix="evonas-lemonade-throughput-") as tmp:
        cmd = [sys.executable, "-m", "evonas", "search", "--target", "edge-cpu", "--objectives", "accuracy,params",
               "--evaluations", str(evaluations), *budget, "--seed", str(seed),
               "--workers", str(workers), "--out", str(Path(tmp) / "run"), "--no-progress"]
        load_before = os.getloadavg()[0]
        cpu_before = _children_cpu()
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
        with sqlite3.connect(Path(tmp) / "run" / "run.db") as db:
            rows = db.execute("SELECT status, eval_seconds FROM candidates").fetchall()
            epochs = _epochs_spent(db)
    assert len(rows) == evaluations and all(status == "ok" for status, _ in rows), "a candidate failed"
    return {"workers": workers, "seconds": seconds, "cpu_seconds": _children_cpu() - cpu_before,
            "epochs": epochs, "median_eval_seconds": statistics.median(s for _, s in rows),
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def _epochs_spent(db: sqlite3.Connection) -> float:
    """Training epochs the run spent: each candidate's stored cost where the problem reported one (a
    LEMONADE child's rung), else its fidelity less its parent's if it is a promotion (the rung it continues)."""
    rows = db.execute("SELECT id, parent_id, operator, fidelity, cost FROM candidates").fetchall()
    fidelity = {i: f or 0.0 for i, _, _, f, _ in rows}
    return sum(c if c is not None else (f or 0.0) - (fidelity.get(parent, 0.0) if op == "promote" else 0.0)
               for _, parent, op, f, c in rows)


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process (and the processes they waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=24)
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--schedule", default=None, metavar="FLAGS",
                    help="schedule flags instead of --epochs, e.g. '--schedule asha --min-epochs 0.5 --max-epochs 4.5'")
    ap.add_argument("--flags", default="", help="further search flags, e.g. '--data ../shared/data/mnist --resolution 14'")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON object here")
    args = ap.parse_args()
    budget = (shlex.split(args.schedule) if args.schedule else ["--epochs", f"{args.epochs:g}"]) + shlex.split(args.flags)
    runs = [one_run(workers, args.evaluations, budget, args.seed)
            for _ in range(args.rounds) for workers in (1, 2)]
    one, two = [r for r in runs if r["workers"] == 1], [r for r in runs if r["workers"] == 2]
    ratios = [a["seconds"] / b["seconds"] for a, b in zip(one, two)]
    epoch_ratios = [(b["epochs"] / b["seconds"]) / (a["epochs"] / a["seconds"]) for a, b in zip(one, two)]
    result = {"command": "evonas search --target edge-cpu --objectives accuracy,params "
                         f"--evaluations {args.evaluations} {shlex.join(budget)} --seed {args.seed} --workers W",
              "machine": {"cpu": _cpu_name(), "usable_cores": len(os.sched_getaffinity(0))},
              "runs": runs, "speedup_per_round": ratios, "speedup_median": statistics.median(ratios),
              "epochs_per_minute_speedup_per_round": epoch_ratios,
              "epochs_per_minute_speedup_median": statistics.median(epoch_ratios)}
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)


def _cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (info.read_text().splitlines() if info.is_file() else [])
             if line.startswith("model name")]
    return names[0] if names else platform.processor()


if __name__ == "__main__":
    main()
