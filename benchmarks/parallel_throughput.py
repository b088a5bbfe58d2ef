"""Throughput of parallel evaluation on real training: 1 worker in-process vs 2 workers (process pool, Ray).

    python benchmarks/parallel_throughput.py [--evaluations 24] [--epochs 3] [--rounds 3]
        [--objectives accuracy,params] [--backends local,local1,process,ray]

``local`` is the default single worker (torch on every core), ``local1`` a single worker with one
thread (what each of two workers gets on two cores: the speed-up over it is the scaling
efficiency). Every configuration trains the same genomes (a fixed list, evaluated in id order by a random
strategy) on the embedded digits, so each does identical work. The configurations run one
after another within each round and the rounds repeat, so a drifting machine affects all of
them alike; the speed-up is the median over rounds of each round's ratio to its own 1-worker
time. Worker start-up (spawning processes, Ray actors) is included; starting Ray itself is not
(a cluster is already running). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def one_run(backend: str, evaluations: int, epochs: float, objectives: list[str]) -> float:
    """Wall seconds of one search of ``evaluations`` fixed genomes on ``backend``."""
    import evonas
    from evonas.api.registry import OBJECTIVES
    from evonas.engine.executors import InProcess, ProcessPool
    from populations.random_search import RandomSearch

    objs = [OBJECTIVES.get(name)() for name in objectives]
    problem = evonas.ImageClassification.from_options(objs, seed=0, epochs=epochs)
    rng = np.random.default_rng(0)
    genomes = [problem.space.sample(rng) for _ in range(evaluations)]
    executor = {"local": lambda: InProcess(),
                "local1": lambda: InProcess(threads=1),
                "process": lambda: ProcessPool(2),
                "ray": lambda: _ray_pool()}[backend]()
    study = evonas.Study(problem, RandomSearch(), seed=0, initial=genomes)
    t0 = time.perf_counter()
    result = study.optimize(evaluations=evaluations, executor=executor)
    seconds = time.perf_counter() - t0
    assert len(result.trials) == evaluations and all(t.ok for t in result.trials), "a candidate failed"
    return seconds


def _ray_pool():
    from evonas.engine.ray_executor import RayPool

    return RayPool(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=24)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--objectives", default="accuracy,params")
    ap.add_argument("--backends", default="local,local1,process,ray")
    args = ap.parse_args()
    backends = args.backends.split(",")
    objectives = args.objectives.split(",")
    if "ray" in backends:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    seconds: dict[str, list[float]] = {b: [] for b in backends}
    for _ in range(args.rounds):
        for backend in backends:
            seconds[backend].append(one_run(backend, args.evaluations, args.epochs, objectives))
    speedup = {f"{b}_vs_{base}": statistics.median(s / x for s, x in zip(seconds[base], seconds[b]))
               for base in ("local", "local1") if base in backends for b in backends if b != base}
    print(json.dumps({"evaluations": args.evaluations, "epochs": args.epochs, "objectives": objectives,
                      "seconds": seconds, "evals_per_s": {b: [args.evaluations / x for x in s]
                                                          for b, s in seconds.items()},
                      "speedup": speedup}, indent=2))


if __name__ == "__main__":
    main()
