"""Example: drive a search with ask/tell around your own training loop.

evonas proposes genomes (here from :class:`evonas.MobileNetSpace`); *your* code turns each one
into a network, trains it and reports the metrics with ``study.tell(pending, {...})``. The
network builder and the training loop below are the user's own (a plain torch CNN read off
the genome's stem, stage widths, kernels and expand ratios, trained on scikit-learn's 8x8
digits), not evonas's.

A candidate that cannot be evaluated is told as a failure, with the exception or a reason
string; it is recorded, costs an evaluation and never enters the front. To show this, the
candidate number ``--crash-at`` raises a simulated error inside the training loop, and
networks above ``--max-params`` are refused with a reason string.

Every candidate is written to the run store as it is asked and told, so afterwards::

    python examples/ask_tell.py --evaluations 8 --epochs 2 --out runs/ask-tell
    evonas history runs/ask-tell
    evonas front runs/ask-tell
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

import evonas


def build_net(genome, num_classes: int = 10) -> nn.Module:
    """My own reading of a MobileNetSpace genome: inverted-residual-like blocks, 8x8 -> 4x4 -> 2x2."""
    layers: list[nn.Module] = [nn.Conv2d(1, genome.stem, 3, padding=1), nn.BatchNorm2d(genome.stem), nn.ReLU()]
    channels = genome.stem
    for i, stage in enumerate(genome.stages):
        act = nn.ReLU if stage.act is evonas.Activation.RELU else nn.Hardswish
        for j, block in enumerate(stage.blocks):
            hidden, stride = channels * block.expand, 2 if i in (1, 3) and j == 0 else 1
            layers += [nn.Conv2d(channels, hidden, 1), nn.BatchNorm2d(hidden), act(),
                       nn.Conv2d(hidden, hidden, block.kernel, stride, block.kernel // 2, groups=hidden), act(),
                       nn.Conv2d(hidden, stage.width, 1), nn.BatchNorm2d(stage.width)]
            channels = stage.width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_digits(seed: int):
    """scikit-learn's digits as (N, 1, 8, 8) float tensors, split 80/20."""
    from sklearn.datasets import load_digits as sk_digits

    x, y = sk_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(y)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def train_and_score(model: nn.Module, data, epochs: float, seed: int) -> float:
    """A minimal training loop: Adam, batch 64, ``epochs`` passes (fractions allowed); returns val accuracy."""
    x_train, y_train, x_val, y_val = data
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    steps = max(1, math.ceil(epochs * len(x_train) / 64))
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(x_train), (64,), generator=gen)
        loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged (loss {loss.item()})")
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return (model(x_val).argmax(1) == y_val).float().mean().item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=8, help="candidates to ask for")
    parser.add_argument("--epochs", type=float, default=2.0, help="training epochs per candidate")
    parser.add_argument("--max-params", type=int, default=150_000, help="refuse (tell as failed) larger networks")
    parser.add_argument("--crash-at", type=int, default=1, help="candidate number whose training 'crashes' (-1: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=time.strftime("runs/ask-tell-%Y%m%d-%H%M%S"),
                        help="run directory (new or empty)")
    args = parser.parse_args(argv)

    space = evonas.MobileNetSpace(evonas.SpaceConfig.for_resolution(8))
    # bounds fix the hypervolume's scale (accuracy() has [0, 1]); without, it is relative to the range seen
    objectives = [evonas.accuracy(),
                  evonas.Objective.minimize("params", bounds=(0, n_params(build_net(space.largest()))))]
    data = load_digits(args.seed)

    with evonas.Study(space=space, objectives=objectives, strategy=evonas.AgingEvolution(population=4, sample_size=2),
                      seed=args.seed, out=args.out) as study:
        for i in range(args.evaluations):
            pending = study.ask()  # pending.id, pending.genome, pending.proposal.parent_id / .operator
            torch.manual_seed(args.seed * 100_003 + pending.id)
            model = build_net(pending.genome)
            try:
                if i == args.crash_at:
                    raise RuntimeError("simulated crash in the user's training loop (e.g. out of memory)")
                if n_params(model) > args.max_params:  # a failure can also be told as a reason string
                    report = f"refused: {n_params(model)} parameters > --max-params {args.max_params}"
                else:
                    report = {"accuracy": train_and_score(model, data, args.epochs, seed=pending.id),
                              "params": n_params(model)}
            except Exception as exc:  # anything the loop raises is recorded with the trial
                report = exc
            trial = study.tell(pending, report)
            status = "ok" if trial.ok else f"FAILED ({trial.error.splitlines()[0]})"
            print(f"#{trial.id} {trial.operator:<14} {status:<9} {trial.metrics}")
        result = study.result()

    print(f"front ({len(result.front)} of {len(result.trials)}):")
    for row in result.front_table():
        print(f"  #{row['id']}: accuracy {row['accuracy']:.3f}  params {row['params']:.0f}  {row['genome']}")
    print(f"everything is recorded: evonas history {args.out}")


if __name__ == "__main__":
    main()
