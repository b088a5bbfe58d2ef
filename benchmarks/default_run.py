"""Benchmark: does the default main job end with an accuracy/latency trade-off? (not a test)

Runs the README's first command, ``evonas search --target edge-cpu`` with no other flag (plus
``--out`` to a temporary directory and, optionally, ``--seed``), as a subprocess per seed, and
reports its wall time, the Pareto front's size and every member's accuracy and latency median
[IQR], read back with ``evonas front RUN_DIR --format json``. The trade-off criterion (issue
13): a front of at least 4 members whose most accurate member is measurably slower than its
fastest, i.e. the latency difference exceeds the sum of the two members' latency IQRs (also
reported: whether their latency intervals, low..high, are disjoint). Target: every seed within
5 minutes of wall time on 2 CPU cores (quiet machine).

    python benchmarks/default_run.py --seed 0,1,2,3,4 --out benchmarks/results/default_run.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIN_FRONT = 4


def run_search(seed: int | None, extra: list[str]) -> dict:
    """One default search in a temporary directory: wall time and its front as JSON rows."""
    with tempfile.TemporaryDirectory(prefix="evonas-default-") as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "evonas", "search", "--target", "edge-cpu", "--out", str(out), "--no-progress",
               *(["--seed", str(seed)] if seed is not None else []), *extra]
        load_before = list(os.getloadavg())
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"'{' '.join(cmd)}' failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        front = json.loads(subprocess.run([sys.executable, "-m", "evonas", "front", str(out), "--format", "json"],
                                          capture_output=True, text=True, check=True).stdout)
        return {"seed": 0 if seed is None else seed, "command": cmd, "wall_seconds": wall,
                "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
                **summarise(front)}


def summarise(front: list[dict]) -> dict:
    """Front members (accuracy, latency median/IQR/interval) and the trade-off criterion."""
    members = sorted(({"id": row["id"], "genome": row["genome"], "accuracy": row["metrics"]["accuracy"],
                       "latency_ms": row["metrics"]["latency_ms"], "latency_iqr_ms": row["metrics"]["latency_iqr_ms"],
                       "latency_low_ms": row["metrics"].get("latency_ms_low"),
                       "latency_high_ms": row["metrics"].get("latency_ms_high"),
                       "flops": row["metrics"].get("flops"), "params": row["metrics"].get("params")}
                      for row in front), key=lambda m: m["latency_ms"])
    fastest = members[0]
    accurate = max(members, key=lambda m: (m["accuracy"], -m["latency_ms"]))
    gap = accurate["latency_ms"] - fastest["latency_ms"]
    iqrs = accurate["latency_iqr_ms"] + fastest["latency_iqr_ms"]
    disjoint = (accurate["latency_low_ms"] is not None and fastest["latency_high_ms"] is not None
                and accurate["latency_low_ms"] > fastest["latency_high_ms"])
    return {"front_size": len(members), "members": members,
            "fastest": {"id": fastest["id"], "accuracy": fastest["accuracy"], "latency_ms": fastest["latency_ms"]},
            "most_accurate": {"id": accurate["id"], "accuracy": accurate["accuracy"],
                              "latency_ms": accurate["latency_ms"]},
            "latency_gap_ms": gap, "sum_of_iqrs_ms": iqrs, "gap_exceeds_iqrs": gap > iqrs,
            "intervals_disjoint": bool(disjoint),
            "criterion": len(members) >= MIN_FRONT and gap > iqrs}


def print_run(r: dict) -> None:
    print(f"seed {r['seed']}: {r['wall_seconds']:.0f} s wall (load {r['load_average_before'][0]:.2f} -> "
          f"{r['load_average_after'][0]:.2f}), front of {r['front_size']}, criterion "
          f"{'holds' if r['criterion'] else 'FAILS'} (gap {r['latency_gap_ms']:.4f} ms vs IQRs {r['sum_of_iqrs_ms']:.4f} ms, "
          f"intervals {'disjoint' if r['intervals_disjoint'] else 'overlap'})")
    for m in r["members"]:
        print(f"  id {m['id']:>3}  accuracy {m['accuracy']:.4f}  latency {m['latency_ms']:.4f} ms "
              f"[IQR {m['latency_iqr_ms']:.4f}]  flops {m['flops']:.3g}  {m['genome']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", default=None, help="run seed(s), comma-separated (default: the command's own default)")
    p.add_argument("--out", default=None, help="write the figures (JSON) here")
    p.add_argument("extra", nargs="*", help="more 'evonas search' flags, after -- (the default job has none)")
    args = p.parse_args()
    seeds = [int(s) for s in args.seed.split(",")] if args.seed else [None]
    runs = []
    for seed in seeds:
        runs.append(run_search(seed, args.extra))
        print_run(runs[-1])
        if args.out:  # what is done so far, whatever happens to the next seed
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps({"runs": runs}, indent=1))
    report = {"seeds": [r["seed"] for r in runs], "criterion_holds": [r["criterion"] for r in runs],
              "front_sizes": [r["front_size"] for r in runs],
              "max_wall_seconds": max(r["wall_seconds"] for r in runs), "cpu_count": os.cpu_count()}
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps({**report, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
