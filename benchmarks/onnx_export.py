"""Benchmark: seconds to write one network as ONNX, for each of evonas's writers and the old one (not a test).

An ONNX Runtime target writes every candidate it times, so that cost adds to every evaluation.
Samples ``--networks`` genomes of the MobileNet space (seeded) and writes each:

- ``emitted``: ``hardware.layers.onnx_for_timing``, the batch-1 graph targets time;
- ``dynamo``: ``hardware.onnx_io.to_onnx``, torch's dynamo exporter, at batch 1 and with a
  dynamic batch (what ``evonas export`` writes), and ``dynamo_unfolded``: the same without folding
  the BatchNorms first;
- ``torchscript``: the TorchScript exporter with the settings evonas used before (``dynamo=False``,
  opset 17), deprecated in torch.

The writers alternate per network, after one warm-up of each. Prints the median seconds per
network and the ratios to TorchScript, and writes them as JSON.

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
from hardware.layers import onnx_for_timing
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


WRITERS = {  # name -> write(model, shape)
    "emitted_batch1": onnx_for_timing,
    "dynamo_batch1": lambda model, shape: to_onnx(model, shape),
    "dynamo_dynamic_batch": lambda model, shape: to_onnx(model, shape, dynamic_batch=True),
    # to_onnx folds a MobileNetLike's BatchNorms before exporting; wrapped, the network is exported as it is
    "dynamo_unfolded_dynamic_batch": lambda model, shape: to_onnx(torch.nn.Sequential(model), shape,
                                                                  dynamic_batch=True),
    "torchscript_batch1": lambda model, shape: torchscript_export(model, shape, False),
    "torchscript_dynamic_batch": lambda model, shape: torchscript_export(model, shape, True),
}


def seconds(write, model, shape) -> float:
    start = time.perf_counter()
    write(model, shape)
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
    for write in WRITERS.values():  # warm-up: imports and first-call caches
        write(models[0], shape)
    times: dict[str, list[float]] = {name: [] for name in WRITERS}
    for model in models:
        for name, write in WRITERS.items():
            times[name].append(seconds(write, model, shape))
    rows = {name: float(np.median(t)) for name, t in times.items()}
    for name in ("emitted_batch1", "dynamo_batch1", "dynamo_dynamic_batch"):
        rows[f"ratio_{name}_to_torchscript"] = rows[name] / rows[f"torchscript_{name.split('_', 1)[1]}"]
    rows["ratio_folded_to_unfolded_dynamic_batch"] = (rows["dynamo_dynamic_batch"]
                                                      / rows["dynamo_unfolded_dynamic_batch"])
    result = {"networks": args.networks, "seed": args.seed, "input_shape": list(shape), "torch": torch.__version__,
              "median_seconds": rows, "seconds": times}
    print(json.dumps(rows, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
