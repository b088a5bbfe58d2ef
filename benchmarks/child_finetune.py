"""Benchmark: a LEMONADE child's accuracy after one fine-tune, fixed vs loss-scaled learning rate (not a test)

Trains ``--parents`` random networks of the inheritance benchmark's space on its MNIST split
for ``--parent-epochs`` (2: as trained as the benchmark's initial networks; 0.5: a lineage that
never trained well), makes one child of each parent by every morphism that applies (a random
site), and fine-tunes each child for ``--epochs`` as LEMONADE does (function-preserving children
on the labels, approximate ones by distillation from the parent) twice from the same weights
and shuffling: with the fixed starting fraction 0.1 of the peak learning rate (the default
before) and with the loss-scaled one (:func:`evonas.mobilenet.training.loss_scaled_fraction`).
Reports every child's validation accuracy under both and the mean difference.

    python benchmarks/child_finetune.py --seed 0 --parent-epochs 2
    python benchmarks/child_finetune.py --seed 3 --parent-epochs 0.5
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from evonas.mobilenet.distill import distill
from evonas.mobilenet.training import accuracy, loss_scaled_fraction, train
from morphisms.operators import MORPHISMS

from lemonade_inheritance import default_problem, trained_parent


def finetuned(problem, step, parent, weights, config, epochs: float) -> float:
    """Validation accuracy of the child after a fine-tune under ``config``."""
    s = problem.splits
    child = problem.build(step.genome(parent[0]))
    child.load_state_dict(weights)
    gen = torch.Generator().manual_seed(7)
    if step.function_preserving:
        train(child, s.x_train, s.y_train, config, gen, epochs=epochs, finetune=True)
    else:
        distill(child, parent[1], s.x_train, s.y_train, config, gen, epochs)
    return accuracy(child, s.x_val, s.y_val)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parents", type=int, default=3)
    p.add_argument("--parent-epochs", type=float, default=2.0)
    p.add_argument("--epochs", type=float, default=0.25, help="fine-tune epochs of a child")
    p.add_argument("--out", default=None, help="write the rows (JSON) here")
    args = p.parse_args()
    torch.set_num_threads(1)
    problem = default_problem(args.data, args.seed, args.epochs)
    s, space, config = problem.splits, problem.space, problem.train_config
    rng = np.random.default_rng(args.seed)
    parents = []
    for k in range(args.parents):
        genome = space.sample(rng)
        parents.append((genome, *trained_parent(problem, genome, k, args.parent_epochs)))
    rows = []
    for op in MORPHISMS:
        for parent in parents:
            step = op.propose(parent[0], space, rng)
            if step is None:
                continue
            weights = step.weights(parent[0], parent[1].state_dict(), space.config, torch.Generator().manual_seed(1))
            probe = problem.build(step.genome(parent[0]))
            probe.load_state_dict(weights)
            row = {"operator": op.name, "parent_accuracy": parent[2],
                   "loss_scaled_fraction": loss_scaled_fraction(probe, s.x_train, s.y_train, config),
                   "fixed_0.1": finetuned(problem, step, parent, weights, replace(config, finetune_lr_fraction=0.1),
                                          args.epochs),
                   "loss_scaled": finetuned(problem, step, parent, weights, config, args.epochs)}
            rows.append(row)
            print(f"{op.name:15s} parent={row['parent_accuracy']:.3f} fraction={row['loss_scaled_fraction']:.3f} "
                  f"fixed={row['fixed_0.1']:.3f} scaled={row['loss_scaled']:.3f}", flush=True)
    diff = [r["loss_scaled"] - r["fixed_0.1"] for r in rows]
    summary = {"settings": vars(args), "children": len(rows),
               "mean_fixed": float(np.mean([r["fixed_0.1"] for r in rows])),
               "mean_loss_scaled": float(np.mean([r["loss_scaled"] for r in rows])),
               "mean_difference": float(np.mean(diff)), "min_difference": float(np.min(diff)),
               "max_difference": float(np.max(diff))}
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**summary, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
