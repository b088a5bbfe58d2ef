"""Benchmark: does the least-squares refinement of approximate children help? (not a test)

Trains ``--parents`` random networks of the inheritance benchmark's space on its MNIST split
for 2 epochs (as trained as that benchmark's initial networks) and makes a child of each parent
at every site of ``remove_block`` and ``shrink_kernel``, twice from the same parent weights: a
plain transfer (the block dropped, the kernel's centre cropped) and one refined by least squares
on the parent's activations over the 512 training images the problem hands it
(:meth:`morphisms.base.Morphism.refine`). Reports each child's validation accuracy right after
the morphism (BatchNorm statistics re-estimated, no training) and after the repair LEMONADE
gives it (distillation from the parent for ``--epochs``, same shuffling both ways), and the
means per operator.

    python benchmarks/approximate_refine.py --seed 1 --out benchmarks/results/approximate_refine_seed1.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from evonas.mobilenet.distill import distill
from evonas.mobilenet.training import accuracy, loss_sample, recalibrate_batchnorm
from morphisms.base import MorphismStep
from morphisms.operators import RemoveBlock, ShrinkKernel

from lemonade_inheritance import default_problem, trained_parent


def scores(problem, genome, weights, parent, epochs: float) -> tuple[float, float]:
    """Validation accuracy of a child with ``weights``: right after the morphism, and after its repair."""
    s, config = problem.splits, problem.train_config
    child = problem.build(genome)
    child.load_state_dict(weights)
    recalibrate_batchnorm(child, s.x_train, config.batch_size, torch.device("cpu"))
    before = accuracy(child, s.x_val, s.y_val)
    child.load_state_dict(weights)
    distill(child, parent, s.x_train, s.y_train, config, torch.Generator().manual_seed(7), epochs)
    return before, accuracy(child, s.x_val, s.y_val)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--parents", type=int, default=5)
    p.add_argument("--epochs", type=float, default=0.25, help="repair epochs of a child")
    p.add_argument("--out", default=None, help="write the rows (JSON) here")
    args = p.parse_args()
    torch.set_num_threads(1)
    problem = default_problem(args.data, args.seed, args.epochs)
    s, space = problem.splits, problem.space
    sample = s.x_train[loss_sample(s.x_train)]
    rng = np.random.default_rng(args.seed)
    rows = []
    for k in range(args.parents):
        genome = space.sample(rng)
        parent, parent_accuracy = trained_parent(problem, genome, k, epochs=2.0)
        for op in (RemoveBlock(), ShrinkKernel()):
            for site in op.sites(genome, space):
                step = MorphismStep(op, site)
                made = {name: step.weights(genome, parent.state_dict(), space.config, torch.Generator().manual_seed(1),
                                           inputs) for name, inputs in (("plain", None), ("refined", sample))}
                row = {"operator": op.name, "site": str(site), "parent_accuracy": parent_accuracy}
                for name, weights in made.items():
                    row[f"{name}_before_repair"], row[f"{name}_after_repair"] = scores(
                        problem, step.genome(genome), weights, parent, args.epochs)
                rows.append(row)
                print(json.dumps(row), flush=True)
    keys = ("parent_accuracy", "plain_before_repair", "refined_before_repair", "plain_after_repair",
            "refined_after_repair")
    summary = {"settings": vars(args), "cpu_capability": torch.backends.cpu.get_cpu_capability(), "means": {
        name: {"children": len(group), **{k: float(np.mean([r[k] for r in group])) for k in keys}}
        for name in ("remove_block", "shrink_kernel") if (group := [r for r in rows if r["operator"] == name])}}
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**summary, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
