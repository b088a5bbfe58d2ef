"""Example: search with your own objectives next to the built-in ones.

Four objectives on the embedded digits dataset (8x8 images, presented at 12x12):

* ``accuracy``   - validation accuracy after training (built in, maximised);
* ``latency_ms`` - measured batch-1 latency on the ``edge-cpu`` target (built in);
* ``size_mb``    - model size in MB: parameters x 4 bytes (float32), a custom training-free objective;
* ``energy_mj``  - an *estimated* energy per inference in millijoules, a custom training-free
  objective built from the network's FLOPs and the memory traffic of its parameters.

A custom objective is just a function ``fn(model, genome, context) -> float`` wrapped in an
:class:`evonas.Objective`. A constraint (``size_mb <= --max-size-mb``) keeps oversized networks
out of the front; training-free constraints are checked against the space before the search
starts. After the search the front is printed with every objective, exported to ONNX, and
the export manifest's objectives are printed.

Run it::

    python examples/custom_objective.py --evaluations 12 --epochs 3 --out runs/custom

The size function is importable at module level, so the CLI can use it too (run from
inside ``examples/`` so the module is found)::

    cd examples
    evonas search --objectives accuracy,latency_ms --evaluations 8 --epochs 3 \\
        --custom-objective size_mb=custom_objective:size_mb:min:free --out ../runs/cli-size
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import evonas

BYTES_PER_PARAM = 4  # float32 weights

# Energy model constants: rough 45 nm figures from Horowitz, "Computing's energy problem"
# (ISSCC 2014). They are order-of-magnitude numbers, not a measurement of any device: use
# the result to compare candidates, not as an absolute energy budget.
PJ_PER_MAC = 4.6  # one float32 multiply (3.7 pJ) plus one float32 add (0.9 pJ)
PJ_PER_DRAM_BYTE = 160.0  # a 32-bit DRAM read costs ~640 pJ, i.e. 160 pJ per byte


def size_mb(model, genome, context) -> float:
    """Model size in MB: number of parameters x 4 bytes (float32). Needs no training."""
    n = sum(p.numel() for p in model.parameters())
    return n * BYTES_PER_PARAM / 1e6


size_mb.unit = "MB"  # the CLI's --custom-objective reads the unit (and ``bounds``) from attributes
size_mb.training_free = True


def energy_mj(model, genome, context) -> float:
    """Estimated energy of one batch-1 inference in mJ: compute + reading every weight from DRAM once.

    ``E = MACs x PJ_PER_MAC + parameter bytes x PJ_PER_DRAM_BYTE`` (activations are assumed to
    stay on chip). FLOPs come from the metrics ``ImageClassification`` records before any
    objective source runs; without them they are counted with the built-in ``flops`` objective.
    """
    flops = context.metrics.get("flops")
    if flops is None:
        flops = evonas.flops().source(model, genome, context)
    macs = flops / 2  # a multiply-add counts as two FLOPs
    weight_bytes = sum(p.numel() for p in model.parameters()) * BYTES_PER_PARAM
    picojoules = macs * PJ_PER_MAC + weight_bytes * PJ_PER_DRAM_BYTE
    return picojoules * 1e-9  # pJ -> mJ


def objectives() -> list[evonas.Objective]:
    return [
        evonas.accuracy(),
        evonas.latency("edge-cpu"),
        evonas.Objective.minimize("size_mb", unit="MB", source=size_mb, training_free=True),
        evonas.Objective.minimize("energy_mj", unit="mJ", source=energy_mj, training_free=True),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=12, help="candidates to evaluate")
    parser.add_argument("--epochs", type=float, default=3.0,
                        help="training epochs per candidate (the embedded digits need about 3)")
    parser.add_argument("--max-size-mb", type=float, default=0.5, help="constraint: size_mb <= this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=time.strftime("runs/custom-objective-%Y%m%d-%H%M%S"),
                        help="run directory (new or empty)")
    parser.add_argument("--export", default=None, help="where to export the front [default: <out>/onnx]")
    args = parser.parse_args(argv)

    problem = evonas.ImageClassification.from_options(objectives=objectives(), seed=args.seed, epochs=args.epochs)
    study = evonas.Study(problem, evonas.AgingEvolution(population=8, sample_size=3),
                         constraints=[evonas.Constraint("size_mb", upper=args.max_size_mb)],
                         seed=args.seed, out=args.out)
    with study:
        result = study.optimize(evaluations=args.evaluations)

    names = [o.name for o in result.objectives]
    print(f"{len(result.trials)} candidates, {len(result.front)} on the front "
          f"(hypervolume {result.hypervolume[-1][2]:.4f})")
    print("  ".join(["id".rjust(3), *(n.rjust(10) for n in names), "genome"]))
    for trial in result.front:
        print("  ".join([str(trial.id).rjust(3), *(f"{trial.metrics[n]:10.4g}" for n in names), str(trial.genome)]))

    export_dir = Path(args.export or Path(args.out) / "onnx")
    result.export(export_dir)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    print(f"exported {len(manifest['models'])} ONNX files to {export_dir}")
    for m in manifest["models"]:
        print(f"  {m['file']}: {json.dumps(m['objectives'])}")


if __name__ == "__main__":
    main()
