"""Benchmark: the lookup-table latency predictor against measurement (not a test).

Builds a table on the target (or loads ``--lut``), then measures ``--networks`` random
genomes (a seed different from the table's calibration sample) and reports the mean
absolute percentage error and Spearman rank correlation of the prediction (targets: MAPE
<= 5%, Spearman >= 0.99), and the time per network of measuring (export + timing) versus
predicting from the genome (target: >= 1,000x faster).

    python benchmarks/lut_accuracy.py --out benchmarks/results/lut_accuracy.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from evonas.mobilenet.builder import build
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from hardware.layers import genome_layers
from hardware.lut import LatencyTable, build_table, entry_protocol
from hardware.registry import get_target


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=200)
    p.add_argument("--seed", type=int, default=99)
    p.add_argument("--target", default="edge-cpu")
    p.add_argument("--input-shape", default="3,224,224")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--calibration", type=int, default=30)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--lut", default=None, help="use this table instead of building one")
    p.add_argument("--save-lut", default=None, help="write the built table here")
    p.add_argument("--out", default=None, help="write the figures (JSON) here")
    args = p.parse_args()
    shape = tuple(int(v) for v in args.input_shape.split(","))
    config, target = SpaceConfig.for_resolution(min(shape[1:])), get_target(args.target)
    t0 = time.perf_counter()
    if args.lut:
        table = LatencyTable.load(args.lut)
    else:
        table = build_table(target, config, shape, args.num_classes, args.calibration, seed=0,
                            entry_protocol=entry_protocol(30), passes=args.passes)
        if args.save_lut:
            table.save(args.save_lut)
    build_seconds = time.perf_counter() - t0
    space, rng = MobileNetSpace(config), np.random.default_rng(np.random.SeedSequence([args.seed]))
    genomes = [space.sample(rng) for _ in range(args.networks)]
    measured, measure_s = [], []
    for i, g in enumerate(genomes):
        t = time.perf_counter()
        model = build(g, config, shape, args.num_classes, torch.Generator().manual_seed(i))
        measured.append(target.measure(model, shape).median_ms)
        measure_s.append(time.perf_counter() - t)
    t = time.perf_counter()
    predicted = [table.predict(g, config) for g in genomes]
    predict_s = (time.perf_counter() - t) / len(genomes)
    y, yhat = np.array(measured), np.array(predicted)
    raw = np.array([table.layer_sum(genome_layers(
        g, config, shape, args.num_classes)) for g in genomes])
    report = {
        "target": args.target, "input_shape": list(shape), "networks": len(genomes), "entries": len(table.entries),
        "calibration": table.calibration, "correction": list(table.correction),
        "table_build_seconds": build_seconds,
        "mape_percent": float(np.mean(np.abs(yhat - y) / y) * 100),
        "within_5_percent": float(np.mean(np.abs(yhat - y) / y <= 0.05)),
        "within_10_percent": float(np.mean(np.abs(yhat - y) / y <= 0.10)),
        "spearman": float(spearmanr(y, yhat).statistic),
        "uncorrected_sum_mape_percent": float(np.mean(np.abs(raw - y) / y) * 100),
        "measured_ms_range": [float(y.min()), float(y.max())],
        "measure_seconds_per_network": float(np.mean(measure_s)),
        "predict_seconds_per_network": predict_s,
        "speedup": float(np.mean(measure_s) / predict_s),
        "load_average": list(os.getloadavg()),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        rows = [{"genome": str(g), "measured_ms": m, "predicted_ms": q} for g, m, q in zip(genomes, y, yhat)]
        Path(args.out).write_text(json.dumps({**report, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
