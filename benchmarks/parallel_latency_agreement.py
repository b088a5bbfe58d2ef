"""Latency recorded during a 2-worker search vs a 1-worker search of the same genomes.

    python benchmarks/parallel_latency_agreement.py [--genomes 16] [--epochs 1] [--target edge-cpu] [--data DIR]

Three searches evaluate the same fixed genomes, training each for real and timing it on the
target: 1 worker (A), 2 workers in a process pool (B), then 1 worker again (C). With the timing
gate, a worker's measurement waits until no other worker is training, so B's latencies should
agree with A's as well as C's (the machine's own repeatability) do. Prints the median relative
difference and Spearman correlation of B vs A and of C vs A, as one JSON object.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from scipy.stats import spearmanr


def latencies(workers: int, genomes_n: int, epochs: float, target: str, data: str | None) -> list[float]:
    import evonas
    from evonas.engine.executors import InProcess, ProcessPool
    from populations.random_search import RandomSearch

    problem = evonas.ImageClassification.from_options([evonas.accuracy(), evonas.latency(target)], epochs=epochs,
                                                      data=data)
    rng = np.random.default_rng(0)
    genomes = [problem.space.sample(rng) for _ in range(genomes_n)]
    study = evonas.Study(problem, RandomSearch(), seed=0, initial=genomes)
    executor = InProcess() if workers == 1 else ProcessPool(workers)
    trials = sorted(study.optimize(genomes_n, executor=executor).trials, key=lambda t: t.id)
    return [t.metrics["latency_ms"] for t in trials]


def compare(a: list[float], b: list[float]) -> dict[str, float]:
    a_, b_ = np.array(a), np.array(b)
    return {"median_rel_diff": float(np.median(np.abs(b_ - a_) / a_)), "spearman": float(spearmanr(a_, b_)[0])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genomes", type=int, default=16)
    ap.add_argument("--epochs", type=float, default=1)
    ap.add_argument("--target", default="edge-cpu")
    ap.add_argument("--data", default=None, help="dataset (default: the embedded 8x8 digits), e.g. ../shared/data/mnist")
    args = ap.parse_args()
    a, b, c = (latencies(workers, args.genomes, args.epochs, args.target, args.data) for workers in (1, 2, 1))
    print(json.dumps({"target": args.target, "genomes": args.genomes, "data": args.data or "embedded 8x8 digits",
                      "two_workers_vs_one": compare(a, b), "one_worker_again_vs_one": compare(a, c),
                      "latency_ms": {"one": a, "two": b, "one_again": c}}, indent=2))


if __name__ == "__main__":
    main()
