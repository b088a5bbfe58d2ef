"""Benchmark: are latencies repeatable on a drifting machine? (not a test)

Runs ``evonas profile --random N --seed S --target T`` twice, as two independent processes,
over the same random genomes, and compares the two runs' latencies per network:
the median relative difference ``|a - b| / mean(a, b)`` and the Spearman rank correlation,
for the drift-compensated latency (``median``, the figure a search uses) and, side by side,
for the candidate's raw timings (``raw_median``) from the same runs. It also prints how much
the machine drifted meanwhile: the reference network's observed latency over its
calibration, across all measurements of both runs (issue targets at 3x224x224 on edge-cpu:
<= 2% median difference and Spearman >= 0.995, including runs whose raw timings drift by 20%
or more).

    python benchmarks/latency_repeatability.py --out benchmarks/results/latency_repeatability.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr


def profile_run(args) -> list[dict]:
    cmd = [sys.executable, "-m", "evonas", "profile", "--random", str(args.networks), "--seed", str(args.seed),
           "--target", args.target, "--input-shape", args.input_shape, "--format", "json", "--no-memory",
           *args.extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    if done.stderr.strip():
        print(done.stderr.strip().splitlines()[-1], file=sys.stderr)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def agreement(a: np.ndarray, b: np.ndarray) -> dict:
    rel = np.abs(a - b) / ((a + b) / 2) * 100
    return {"median_rel_diff_percent": float(np.median(rel)), "p90_rel_diff_percent": float(np.percentile(rel, 90)),
            "max_rel_diff_percent": float(rel.max()), "spearman": float(spearmanr(a, b)[0])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=50)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--target", default="edge-cpu")
    p.add_argument("--input-shape", default="3,224,224")
    p.add_argument("--out", default=None, help="write the figures (JSON) here")
    p.add_argument("extra", nargs="*", help="more 'evonas profile' flags, after --")
    args = p.parse_args()
    t0 = time.perf_counter()
    runs = [profile_run(args), profile_run(args)]
    if args.out:  # the raw rows first, whatever the summary below makes of them
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"run_a": runs[0], "run_b": runs[1]}, indent=1))
    assert [r["genome"] for r in runs[0]] == [r["genome"] for r in runs[1]]
    lat = [r["latency_ms"] for run in runs for r in run]
    report = {"networks": len(runs[0]), "target": args.target, "input_shape": args.input_shape, "seed": args.seed,
              "compensated": agreement(*(np.array([r["latency_ms"]["median"] for r in run]) for run in runs)),
              "raw": agreement(*(np.array([r["latency_ms"]["raw_median_ms"] for r in run]) for run in runs))}
    if lat[0].get("reference"):
        levels = np.array([x["reference"]["observed_ms"] / x["reference"]["calibrated_ms"] for x in lat])
        report["machine"] = {
            "reference_level_range_percent": [float((levels.min() - 1) * 100), float((levels.max() - 1) * 100)],
            "raw_drift_percent": float((levels.max() / levels.min() - 1) * 100),
            "max_drift_within_one_measurement_percent": float(max(x["reference"]["drift"] for x in lat) * 100),
            "max_other_load_percent": float(max(x["conditions"]["other_load"] for x in lat) * 100),
            "max_steal_percent": float(max(x["conditions"]["steal"] for x in lat) * 100),
            "flagged": sum(bool(x["flags"]) for x in lat), "remeasured": sum(x["conditions"]["attempts"] > 1 for x in lat)}
    report.update({"latency_ms_range": [float(min(x["median"] for x in lat)), float(max(x["median"] for x in lat))],
                   "wall_seconds": time.perf_counter() - t0, "load_average": list(os.getloadavg())})
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**report, "run_a": runs[0], "run_b": runs[1]}, indent=1))


if __name__ == "__main__":
    main()
