"""Benchmark: does --noise-aware keep truly dominated networks out of the front? (not a test)

NB201 with simulated latency noise (``latency_noise``: lognormal, sigma 0.2 by default, the
spread of raw timings measured on this machine class: two profile runs differed by a median of
21%). For each seed, one search with plain Pareto dominance on the noisy values and one with
``noise_aware=True`` evaluate exactly the same candidates (the strategy sees the same metrics;
only the archive differs). A final front member is *truly dominated* when another candidate of
the same run dominates it on the noise-free table. Reported: truly dominated members per run,
plain vs noise-aware, the reduction (issue target: at least 50% fewer over 20 seeds), front
sizes, and the side-by-side re-measurements the noise-aware runs spent.

    python benchmarks/noise_aware_dominance.py --table ../shared/data/nb201/nb201_table.csv \
        --out benchmarks/results/noise_aware_dominance.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from evonas.api.registry import strategy_class
from evonas.api.study import Study
from evonas.problems.nb201 import NB201Problem
from evonas.core.pareto import dominates


def truly_dominated(front_ids: list[int], evaluated: dict[int, int], true_values: np.ndarray) -> int:
    """How many of ``front_ids`` some other evaluated candidate dominates on the noise-free values."""
    values = {i: true_values[code] for i, code in evaluated.items()}
    return sum(any(dominates(values[j], values[i]) for j in values if j != i) for i in front_ids)


def one_run(args, seed: int, noise_aware: bool) -> dict:
    problem = NB201Problem.from_options(args.table, args.search_column, (args.cost_column,),
                                        latency_noise=args.noise, side_by_side_noise=args.side_by_side_noise)
    strategy = strategy_class(args.strategy)()
    study = Study(problem, strategy, seed=seed, noise_aware=noise_aware)
    result = study.optimize(evaluations=args.evaluations)
    evaluated = {t.id: t.genome.code for t in result.trials if t.ok}
    front = [t.id for t in result.front]
    return {"front": len(front), "truly_dominated": truly_dominated(front, evaluated, problem.values()),
            "remeasured": getattr(study.search.archive, "remeasured", 0)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", default="../shared/data/nb201/nb201_table.csv")
    p.add_argument("--search-column", default="c10_test_acc_200ep_mean")
    p.add_argument("--cost-column", default="hwnb_fpga_lat_ms_c10")
    p.add_argument("--strategy", default="aging")
    p.add_argument("--evaluations", type=int, default=300)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--noise", type=float, default=0.2, help="sigma of the lognormal latency noise")
    p.add_argument("--side-by-side-noise", type=float, default=0.01)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    t0 = time.perf_counter()
    runs = [{"seed": s, "plain": one_run(args, s, False), "noise_aware": one_run(args, s, True)}
            for s in range(args.seeds)]
    plain = np.array([r["plain"]["truly_dominated"] for r in runs])
    aware = np.array([r["noise_aware"]["truly_dominated"] for r in runs])
    report = {
        "problem": {"table": args.table, "accuracy": args.search_column, "cost": args.cost_column,
                    "latency_noise": args.noise, "side_by_side_noise": args.side_by_side_noise},
        "strategy": args.strategy, "evaluations": args.evaluations, "seeds": args.seeds,
        "truly_dominated_mean": {"plain": float(plain.mean()), "noise_aware": float(aware.mean())},
        "reduction_percent": float((1 - aware.sum() / max(plain.sum(), 1)) * 100),
        "seeds_noise_aware_not_worse": int(np.sum(aware <= plain)),
        "front_size_mean": {"plain": float(np.mean([r["plain"]["front"] for r in runs])),
                            "noise_aware": float(np.mean([r["noise_aware"]["front"] for r in runs]))},
        "remeasured_mean": float(np.mean([r["noise_aware"]["remeasured"] for r in runs])),
        "wall_seconds": time.perf_counter() - t0,
    }
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**report, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
