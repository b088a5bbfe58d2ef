"""Benchmark: does a promoted candidate continue exactly where its rung stopped? (not a test)

For ``--networks`` random networks of the default space on MNIST (the 10k IDX test images, split
into train and validation by seed, presented at ``--resolution``; networks above ``--max-mflops``
are skipped so the run stays short), each with its own seed, through
:class:`~evonas.mobilenet.problem.ImageClassification` as the driver calls it:

(a) the validation loss of the first rung (``--first`` epochs of a schedule planned over
    ``--planned``) right before promotion, right after its checkpoint (weights and training
    state through ``torch.save``, as the run store keeps them) is loaded into a freshly built
    network, and after a further ``--probe`` epochs of the continuation (a restarted warm-up
    or a lost optimizer state would show as a jump here);
(b) accuracy and validation loss after the promotion to ``--planned`` epochs versus the same
    genome and seed trained ``--planned`` epochs straight through, and the largest weight difference.

Prints a table and writes JSON under ``--out``. Measured on 2 shared cores (torch 2.13 CPU), 10
networks of at most 3 MFLOPs, MNIST at 14x14 and the embedded digits: every difference in (a) and
(b) is exactly 0 (bitwise equal weights); about 10 minutes for MNIST.

    nice -n 10 python benchmarks/continuation.py --networks 10
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evonas.core.problem import Budget, Checkpoint, Evaluation, Proposal
from evonas.engine.schedule import PROMOTE
from evonas.mobilenet.problem import ImageClassification, accuracy_objective
from hardware.objectives import flops, params

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def roundtrip(value):
    """``value`` through ``torch.save`` / ``torch.load``, as the run store keeps a checkpoint."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@torch.no_grad()
def val_loss(problem: ImageClassification, genome, weights: dict) -> float:
    """Eval-mode validation cross-entropy of ``genome`` with ``weights``, in a freshly built network."""
    model = problem.build(genome)
    model.load_state_dict(weights)
    model.eval()
    return float(nn.functional.cross_entropy(model(problem.splits.x_val), problem.splits.y_val))


def promote(problem: ImageClassification, genome, first: Evaluation, fidelity: float, planned: float) -> Evaluation:
    """Continue ``first`` to ``fidelity`` epochs from its checkpoint (round-tripped as stored)."""
    checkpoint = Checkpoint(0, first.fidelity, dict(first.metrics), roundtrip(first.weights),
                            roundtrip(first.train_state))
    return problem.evaluate(Proposal(genome, 0, PROMOTE, seed=12345, budget=Budget(fidelity, planned),
                                     resume=checkpoint))


def measure(problem: ImageClassification, genome, seed: int, args) -> dict:
    """One network's row: (a) losses around the promotion, (b) two rungs vs straight through."""
    t0 = time.perf_counter()
    first = problem.evaluate(Proposal(genome, seed=seed, budget=Budget(args.first, args.planned)))
    loaded = roundtrip(first.weights)
    probe = promote(problem, genome, first, args.first + args.probe, args.planned)
    promoted = promote(problem, genome, first, args.planned, args.planned)
    straight = problem.evaluate(Proposal(genome, seed=seed, budget=Budget(args.planned, args.planned)))
    diff = max(float((promoted.weights[k].float() - straight.weights[k].float()).abs().max())
               for k in straight.weights)
    return {"genome": str(genome), "seed": seed, "mflops": first.metrics["flops"] / 1e6,
            "loss_before": val_loss(problem, genome, first.weights),
            "loss_after_load": val_loss(problem, genome, loaded),
            "loss_after_probe": val_loss(problem, genome, probe.weights),
            "accuracy_rung1": first.metrics["accuracy"],
            "accuracy_promoted": promoted.metrics["accuracy"], "accuracy_straight": straight.metrics["accuracy"],
            "loss_promoted": val_loss(problem, genome, promoted.weights),
            "loss_straight": val_loss(problem, genome, straight.weights),
            "max_weight_difference": diff, "seconds": time.perf_counter() - t0}


def networks(problem: ImageClassification, count: int, max_mflops: float, seed: int) -> list:
    """``count`` random genomes of at most ``max_mflops`` MFLOPs (drawn with ``seed``)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for _ in range(1000 * count):
        genome = problem.space.sample(rng)
        if problem.cheap_metrics(genome, ())["flops"] <= max_mflops * 1e6 and genome not in chosen:
            chosen.append(genome)
        if len(chosen) == count:
            return chosen
    raise SystemExit(f"fewer than {count} networks of at most {max_mflops} MFLOPs in 1000 draws each")


def summary(rows: list[dict]) -> dict:
    def largest(f) -> float:
        return float(max(abs(f(r)) for r in rows))
    return {"networks": len(rows),
            "max_abs_loss_jump_at_load": largest(lambda r: r["loss_after_load"] - r["loss_before"]),
            "max_abs_accuracy_difference": largest(lambda r: r["accuracy_promoted"] - r["accuracy_straight"]),
            "max_abs_loss_difference": largest(lambda r: r["loss_promoted"] - r["loss_straight"]),
            "max_weight_difference": largest(lambda r: r["max_weight_difference"]),
            "mean_loss_change_over_probe": float(np.mean([r["loss_after_probe"] - r["loss_before"] for r in rows]))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="dataset path; 'embedded' for the embedded digits")
    p.add_argument("--networks", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resolution", type=int, default=14)
    p.add_argument("--max-mflops", type=float, default=3.0)
    p.add_argument("--first", type=float, default=1.0, help="epochs of the first rung")
    p.add_argument("--planned", type=float, default=3.0, help="epochs of the top rung")
    p.add_argument("--probe", type=float, default=0.1, help="epochs of continuation before loss_after_probe")
    p.add_argument("--out", default="benchmarks/results/continuation")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = None if args.data == "embedded" else args.data
    problem = ImageClassification.from_options([accuracy_objective(), params(), flops()], seed=args.seed,
                                               data=data, resolution=None if data is None else args.resolution)
    print(f"{'#':>2} {'MFLOPs':>6} {'loss before':>11} {'after load':>10} {'+probe':>7} | {'acc 1+2':>7} "
          f"{'acc 3':>7} {'loss 1+2':>8} {'loss 3':>8} {'max |dw|':>9} {'s':>5}", flush=True)
    rows = []
    for k, genome in enumerate(networks(problem, args.networks, args.max_mflops, args.seed)):
        r = measure(problem, genome, 1000 + k, args)
        rows.append(r)
        print(f"{k:2d} {r['mflops']:6.2f} {r['loss_before']:11.5f} {r['loss_after_load']:10.5f} "
              f"{r['loss_after_probe']:7.4f} | {r['accuracy_promoted']:7.4f} {r['accuracy_straight']:7.4f} "
              f"{r['loss_promoted']:8.5f} {r['loss_straight']:8.5f} {r['max_weight_difference']:9.2e} "
              f"{r['seconds']:5.0f}", flush=True)
    result = {"settings": vars(args), "dataset": "embedded" if data is None else Path(data).name,
              "torch": torch.__version__, "summary": summary(rows), "rows": rows}
    print(json.dumps(result["summary"], indent=2))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"{result['dataset']}_seed{args.seed}.json"
    (out / name).write_text(json.dumps(result, indent=2))
    print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
