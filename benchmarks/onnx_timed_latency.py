"""Benchmark: does the graph a target times run as fast as the file a bundle ships? (not a test)

For ``--networks`` genomes of the MobileNet space (seeded, each with its own random BatchNorm
statistics), ONNX Runtime on the ``edge-cpu`` target times three graphs side by side, their runs
interleaved in the same time windows: the batch-1 graph ``hardware.layers.onnx_for_timing``
emits (what a search times), torch's dynamo export at batch 1, and the bundle's dynamic-batch
export run at batch 1. Each network is timed twice, the graphs in one order and then in the
reverse order, and each graph's latency is the geometric mean of the two (a graph's position in
the interleaving can bias it by a few percent). Prints each network's latency ratios to the
dynamo batch-1 export and their median, and writes them as JSON.

    python benchmarks/onnx_timed_latency.py --networks 20 --out benchmarks/results/onnx_timed_latency.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from evonas.mobilenet.builder import build
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from hardware.layers import onnx_for_timing
from hardware.onnx_io import to_onnx
from hardware.registry import get_target

GRAPHS = ("emitted", "dynamo_batch1", "dynamo_dynamic_batch")


def with_statistics(model: torch.nn.Module, generator: torch.Generator) -> torch.nn.Module:
    """``model`` with BatchNorm statistics away from (0, 1), as a trained network has."""
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.normal_(0, 0.5, generator=generator)
            bn.running_var.uniform_(0.5, 2.0, generator=generator)
    return model.eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-shape", default="3,32,32")
    p.add_argument("--target", default="edge-cpu")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    shape = tuple(int(v) for v in args.input_shape.split(","))
    config = SpaceConfig.for_resolution(min(shape[1:]))
    space, rng = MobileNetSpace(config), np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    target = get_target(args.target)
    rows = []
    for i in range(args.networks):
        genome = space.sample(rng)
        model = with_statistics(build(genome, config, shape, 10, generator), generator)
        files = [onnx_for_timing(model, shape), to_onnx(model, shape), to_onnx(model, shape, dynamic_batch=True)]
        forward = [m.median_ms for m in target.measure_onnx_side_by_side(files, shape)]
        backward = [m.median_ms for m in target.measure_onnx_side_by_side(files[::-1], shape)][::-1]
        ms = [float(np.sqrt(f * b)) for f, b in zip(forward, backward)]  # each order once: no position bias
        row = {"genome": str(genome), **dict(zip(GRAPHS, ms)), "forward_ms": forward, "backward_ms": backward}
        row.update({f"ratio_{g}": row[g] / row["dynamo_batch1"] for g in GRAPHS if g != "dynamo_batch1"})
        rows.append(row)
        print(f"{i:3d} emitted {ms[0]:.3f} ms, dynamo {ms[1]:.3f} ms, dynamic-batch file {ms[2]:.3f} ms: "
              f"ratio {row['ratio_emitted']:.3f}, {row['ratio_dynamo_dynamic_batch']:.3f}", flush=True)
    summary = {f"median_ratio_{g}": float(np.median([r[f"ratio_{g}"] for r in rows]))
               for g in ("emitted", "dynamo_dynamic_batch")}
    summary.update({f"range_ratio_{g}": [float(min(r[f"ratio_{g}"] for r in rows)),
                                         float(max(r[f"ratio_{g}"] for r in rows))]
                    for g in ("emitted", "dynamo_dynamic_batch")})
    print(json.dumps(summary, indent=1))
    if args.out:
        result = {"networks": args.networks, "seed": args.seed, "input_shape": list(shape), "target": args.target,
                  "torch": torch.__version__, "summary": summary, "rows": rows}
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
