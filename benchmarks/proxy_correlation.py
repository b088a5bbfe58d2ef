"""How well each zero-cost proxy ranks networks: Spearman correlation with trained validation accuracy.

    python benchmarks/proxy_correlation.py --data ../shared/data/mnist [--networks 100] [--epochs 1]
        [--batch 64] [--seed 0] [--out results.json]

Samples ``--networks`` random genomes of the MobileNet-like space (at the data's resolution),
scores each untrained network with every proxy in :mod:`evonas.mobilenet.proxies` (timing each,
with one torch thread), then trains it exactly as ``evonas search`` would (the problem's own
``evaluate``, same initial weights: the proxies see the network training starts from) and
reads its validation accuracy. Data-dependent proxies see the same ``--batch`` training images
for every network (the first images of a seeded permutation of the training split). Prints
and writes one JSON object: per proxy (and, as the baseline, the parameter count) the Spearman rho (scipy) over the networks, its bootstrap
95% interval, and the median seconds per network; plus the median training seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="dataset path (default: the embedded digits)")
    parser.add_argument("--networks", type=int, default=100)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.networks < 5 or args.batch < 2 or args.epochs <= 0:
        print("error: --networks >= 5, --batch >= 2 and --epochs > 0", file=sys.stderr)
        return 2

    from scipy.stats import spearmanr

    from evonas.core.errors import UserError
    from evonas.core.objectives import Objective
    from evonas.core.problem import Proposal
    from evonas.mobilenet.costs import count_params
    from evonas.mobilenet import proxies
    from evonas.mobilenet.problem import ImageClassification

    torch.set_num_threads(1)
    try:
        problem = ImageClassification.from_options([Objective.maximize("accuracy"), Objective.minimize("params")],
                                                   seed=args.seed, data=args.data, epochs=args.epochs)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    order = torch.from_numpy(rng.permutation(len(problem.splits.x_train))[: args.batch])
    batch = proxies.ProxyBatch(problem.splits.x_train[order], problem.splits.y_train[order])
    shape = problem.splits.input_shape
    names = [*proxies.DATA_FREE, *proxies.ON_A_BATCH, "params"]  # params: the baseline every proxy must beat
    scores: dict[str, list[float]] = {n: [] for n in names}
    seconds: dict[str, list[float]] = {n: [] for n in [*names, "train"]}
    accuracies: list[float] = []
    for i in range(args.networks):
        genome = problem.space.sample(rng)
        model = problem.build(genome, problem.generator(genome, seed=i))
        for name in names:
            t0 = time.perf_counter()
            value = (proxies.DATA_FREE[name](model, shape) if name in proxies.DATA_FREE
                     else proxies.ON_A_BATCH[name](model, batch) if name in proxies.ON_A_BATCH
                     else float(count_params(model)))
            seconds[name].append(time.perf_counter() - t0)
            scores[name].append(value)
        t0 = time.perf_counter()
        accuracies.append(problem.evaluate(Proposal(genome, seed=i)).metrics["accuracy"])
        seconds["train"].append(time.perf_counter() - t0)
        print(f"{i + 1}/{args.networks} acc={accuracies[-1]:.3f} "
              + " ".join(f"{n}={scores[n][-1]:.3g}" for n in names), file=sys.stderr, flush=True)

    acc = np.array(accuracies)
    out = {"data": args.data or "embedded digits", "networks": args.networks, "epochs": args.epochs,
           "batch": args.batch, "seed": args.seed, "median_train_seconds": statistics.median(seconds["train"]),
           "proxies": {}}
    boot = np.random.default_rng(args.seed + 1)
    for name in names:
        s = np.array(scores[name])
        rho = float(spearmanr(s, acc).statistic)
        draws = [boot.integers(len(acc), size=len(acc)) for _ in range(1000)]
        rhos = np.array([spearmanr(s[d], acc[d]).statistic for d in draws])
        low, high = np.nanpercentile(rhos, [2.5, 97.5])
        out["proxies"][name] = {"spearman": rho, "ci95": [float(low), float(high)],
                                "median_seconds": statistics.median(seconds[name])}
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
