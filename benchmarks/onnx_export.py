"""Benchmark: ONNX export time per network, torch's dynamo exporter against the TorchScript one (not a test).

Export runs once per candidate when the target times ONNX Runtime, so its cost adds to every
evaluation. Samples ``--networks`` genomes of the MobileNet space (seeded), exports each at batch 1
(what targets time) and with a dynamic batch (what ``evonas export`` writes) through
``hardware.onnx_io.to_onnx`` (dynamo) and through the TorchScript exporter with the settings
evonas used before (``dynamo=False``, opset 17), alternating the two, after one warm-up export of
each. Prints the median seconds per network and the ratio, and writes them as JSON.

    python benchmarks/onnx_export.py --networks 10 --out benchmarks/results/onnx_export.json
"""

from __future__ import annotations

import argparse
import io
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from evonas.mobilenet.builder import build
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from hardware.onnx_io import BATCH_AXIS, INPUT_NAME, OUTPUT_NAME, to_onnx


def torchscript_export(model: torch.nn.Module, shape: tuple[int, int, int], dynamic_batch: bool) -> bytes:
    """The export evonas used before: the TorchScript exporter, opset 17 (deprecated in torch)."""
    buffer = io.BytesIO()
    axes = {INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # its own deprecation: this is the old path
        torch.onnx.export(model.eval(), (torch.zeros(1, *shape),), buffer, dynamo=False, opset_version=17,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_axes=axes)
    return buffer.getvalue()


EXPORTERS = {"dynamo": to_onnx, "torchscript": torchscript_export}


def seconds(export, model, shape, dynamic_batch: bool) -> float:
    start = time.perf_counter()
    export(model, shape, dynamic_batch)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-shape", default="3,32,32")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    shape = tuple(int(v) for v in args.input_shape.split(","))
    config = SpaceConfig.for_resolution(min(shape[1:]))
    space, rng = MobileNetSpace(config), np.random.default_rng(args.seed)
    models = [build(space.sample(rng), config, shape, 10).eval() for _ in range(args.networks)]
    for export in EXPORTERS.values():  # warm-up: imports and first-call caches
        export(models[0], shape, False)
    times = {(name, dyn): [] for name in EXPORTERS for dyn in (False, True)}
    for model in models:
        for dyn in (False, True):
            for name, export in EXPORTERS.items():
                times[name, dyn].append(seconds(export, model, shape, dyn))
    rows = {f"{name}{'_dynamic_batch' if dyn else '_batch1'}": float(np.median(t)) for (name, dyn), t in times.items()}
    for dyn in ("batch1", "dynamic_batch"):
        rows[f"ratio_{dyn}"] = rows[f"dynamo_{dyn}"] / rows[f"torchscript_{dyn}"]
    result = {"networks": args.networks, "seed": args.seed, "input_shape": list(shape), "torch": torch.__version__,
              "median_seconds": rows, "seconds": {f"{n}_{'dynamic' if d else 'batch1'}": t for (n, d), t in times.items()}}
    print(json.dumps(rows, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
