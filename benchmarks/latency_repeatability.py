"""Benchmark: are edge-cpu latencies repeatable? (not a test)

Runs ``evonas profile --random N --seed S --target T`` twice, as two independent processes,
over the same random genomes, and reports the per-network relative difference
``|a - b| / mean(a, b)`` of the two median latencies: its median (target: <= 2% on
edge-cpu at 3x224x224), mean, 90th percentile and maximum.

    python benchmarks/latency_repeatability.py --out benchmarks/results/repeatability.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def profile_run(args) -> list[dict]:
    cmd = [sys.executable, "-m", "evonas", "profile", "--random", str(args.networks), "--seed", str(args.seed),
           "--target", args.target, "--input-shape", args.input_shape, "--format", "json", "--no-memory"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=50)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--target", default="edge-cpu")
    p.add_argument("--input-shape", default="3,224,224")
    p.add_argument("--out", default=None, help="write the figures (JSON) here")
    args = p.parse_args()
    t0 = time.perf_counter()
    runs = [profile_run(args), profile_run(args)]
    a, b = (np.array([r["latency_ms"]["median"] for r in run]) for run in runs)
    assert [r["genome"] for r in runs[0]] == [r["genome"] for r in runs[1]]
    rel = np.abs(a - b) / ((a + b) / 2) * 100
    report = {"networks": len(a), "target": args.target, "input_shape": args.input_shape, "seed": args.seed,
              "median_rel_diff_percent": float(np.median(rel)), "mean_rel_diff_percent": float(rel.mean()),
              "p90_rel_diff_percent": float(np.percentile(rel, 90)), "max_rel_diff_percent": float(rel.max()),
              "latency_ms_range": [float(min(a.min(), b.min())), float(max(a.max(), b.max()))],
              "median_iqr_ms": float(np.median([r["latency_ms"]["iqr"] for run in runs for r in run])),
              "wall_seconds": time.perf_counter() - t0, "load_average": list(__import__("os").getloadavg())}
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**report, "run_a": runs[0], "run_b": runs[1]}, indent=1))


if __name__ == "__main__":
    main()
