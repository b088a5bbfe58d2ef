"""Benchmark: does LEMONADE started from the narrowest networks find wider ones? (not a test)

Issue 12's width target. For each seed, runs the CLI as a user would,

    evonas search --strategy lemonade --init G1 ... --init G4 --seed S --out RUN

on the embedded digits for the default target (accuracy vs edge-cpu latency), where the four
initial genomes have every stage and the stem at the narrowest width of the space (the first
is the space's smallest network; the other three draw depth, kernels, expansions, SE and
activation at random from the seed). Nothing but the morphisms can change a width, so every
wider stage on a later front was reached by ``widen_stage`` / ``widen_stem`` / ``widen_chain``
children.

Reported per seed, read back from the run store: the operators used (what ``evonas history``
shows), the front after every evaluation (the evaluation at which a member with a wider stage
first joined it), and the final front with each member's widths. Target: every seed's final
front contains networks with wider stages than the initial ones.

    python benchmarks/lemonade_width.py --seed 0,1,2 --out benchmarks/results/lemonade_width.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from evonas.api.spec import RunSpec, build_problem
from evonas.engine.results import StoredRun
from evonas.mobilenet.space import parse_genome


def narrowest(space, rng: np.random.Generator, count: int) -> list:
    """``count`` distinct genomes at the narrowest widths: the smallest one, then random others."""
    c = space.config
    genomes = [space.smallest()]
    while len(genomes) < count:
        g = space.sample(rng)
        g = replace(g, stem=min(c.stem_widths),
                    stages=tuple(replace(s, width=min(w)) for s, w in zip(g.stages, c.stage_widths)))
        space.validate(g)
        if g not in genomes:
            genomes.append(g)
    return genomes


def widths(genome) -> list[int]:
    """Stem width, then every stage's output width."""
    return [genome.stem, *(s.width for s in genome.stages)]


def run(seed: int, evaluations: int, runs_dir: Path, initial: int) -> dict:
    space = build_problem(RunSpec()).space
    init = narrowest(space, np.random.default_rng(seed), initial)
    floor = widths(space.smallest())
    out = runs_dir / f"lemonade-width-seed{seed}"
    cmd = [sys.executable, "-m", "evonas", "search", "--strategy", "lemonade", "--evaluations", str(evaluations),
           "--seed", str(seed), "--out", str(out), "--no-progress", *(a for g in init for a in ("--init", str(g)))]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"'{' '.join(cmd)}' failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    wall = time.perf_counter() - t0
    stored = StoredRun.read(out)
    operators = Counter(t.operator for t in stored.told)
    first_wider = None
    for n, _, _, archive in stored.replay():
        if first_wider is None and any(_wider(parse_genome(str(t.genome)), floor) for t in archive.trials):
            first_wider = n
    front = [{"id": t.id, "genome": str(t.genome), "widths": widths(parse_genome(str(t.genome))),
              "wider_than_initial": _wider(parse_genome(str(t.genome)), floor), "operator": t.operator,
              "accuracy": t.metrics["accuracy"], "latency_ms": t.metrics["latency_ms"]}
             for t in stored.front]
    wider = sum(m["wider_than_initial"] for m in front)
    return {"seed": seed, "command": cmd, "run_dir": str(out), "wall_seconds": wall,
            "initial": [str(g) for g in init], "initial_widths": floor,
            "operators": dict(operators.most_common()),
            "evaluation_first_front_with_wider_stage": first_wider,
            "front": front, "front_members_wider": wider,
            "widest_on_front": np.max([m["widths"] for m in front], axis=0).tolist(),
            "criterion": wider > 0}


def _wider(genome, floor: list[int]) -> bool:
    return any(w > f for w, f in zip(widths(genome), floor))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", default="0,1,2", help="comma-separated seeds, one run each")
    p.add_argument("--evaluations", type=int, default=60)
    p.add_argument("--initial", type=int, default=4, help="narrowest initial genomes")
    p.add_argument("--runs", default="runs", help="where the run directories are kept (for evonas history)")
    p.add_argument("--out", default="benchmarks/results/lemonade_width.json")
    args = p.parse_args()
    results = []
    for seed in (int(s) for s in args.seed.split(",")):
        r = run(seed, args.evaluations, Path(args.runs), args.initial)
        results.append(r)
        print(f"seed {seed}: {r['wall_seconds']:.0f} s, front of {len(r['front'])}, {r['front_members_wider']} with "
              f"wider stages (first at evaluation {r['evaluation_first_front_with_wider_stage']}), widest on the "
              f"front {r['widest_on_front']} from {r['initial_widths']}; operators {r['operators']}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"settings": vars(args), "per_seed": results,
                                          "every_seed_wider": all(r["criterion"] for r in results)}, indent=2))


if __name__ == "__main__":
    main()
