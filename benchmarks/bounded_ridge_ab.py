"""The bounded strategy's ridge surrogate in two checkouts, side by side: same trajectories? how fast?

Runs ``bounded`` (its defaults, 400 evaluations, seeds 0-2) on nb201 (latency <= 3 ms) and ofa
(latency <= 25 ms) in a worker per checkout (PYTHONPATH), alternating old and new ROUNDS times;
prints per run whether the proposed genomes are identical and the wall seconds of each, and writes
them to OUT (JSON).

Usage: python benchmarks/bounded_ridge_ab.py OLD_CHECKOUT NEW_CHECKOUT OUT.json [ROUNDS] [SHARED_DATA_DIR]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SEEDS, EVALUATIONS = (0, 1, 2), 400


def worker(data: str) -> None:
    """Print ``{"space/seed": [genomes, seconds]}`` for every run, as one JSON document."""
    from evonas.api.compare import strategy_with
    from evonas.api.spec import RunSpec, build_constraints, build_problem
    from evonas.engine.driver import MaxEvaluations, Search

    specs = {"nb201": RunSpec(space="nb201", max_latency=3.0,
                              problem_options=dict(table=str(Path(data) / "nb201" / "nb201_table.csv"))),
             "ofa": RunSpec(space="ofa", max_latency=25.0, problem_options=dict(data_dir=str(Path(data) / "ofa_mbv3")))}
    out = {}
    for space, spec in specs.items():
        problem = build_problem(spec)
        constraints = build_constraints(spec, problem)
        for seed in SEEDS:
            t0 = time.perf_counter()
            search = Search(problem, strategy_with("bounded", {}), MaxEvaluations(EVALUATIONS), seed,
                            constraints=constraints)
            search.run()
            out[f"{space}/{seed}"] = [[str(t.genome) for t in search.trials], time.perf_counter() - t0]
    print(json.dumps(out))


def run(checkout: str, data: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(checkout).resolve())}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", data], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        return worker(sys.argv[2])
    if len(sys.argv) < 4:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        raise SystemExit(2)
    old, new, out = sys.argv[1:4]
    for checkout in (old, new):
        if not (Path(checkout) / "populations" / "surrogate.py").is_file():
            print(f"bounded_ridge_ab: {checkout} is not an evonas checkout", file=sys.stderr)
            raise SystemExit(2)
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    data = sys.argv[5] if len(sys.argv) > 5 else os.environ.get("EVONAS_SHARED_DATA", "../shared/data")
    seconds: dict = {"old": {}, "new": {}}
    identical = True
    for _ in range(rounds):
        a, b = run(old, data), run(new, data)
        for key in a:
            identical &= a[key][0] == b[key][0]
            seconds["old"].setdefault(key, []).append(a[key][1])
            seconds["new"].setdefault(key, []).append(b[key][1])
    medians = {name: {k: float(np.median(v)) for k, v in runs.items()} for name, runs in seconds.items()}
    Path(out).write_text(json.dumps({"old": old, "new": new, "rounds": rounds, "identical_genomes": identical,
                                     "seconds": seconds, "median_seconds": medians}, indent=1))
    print(f"identical genomes in every run: {identical}")
    for key in medians["old"]:
        print(f"{key}: old {medians['old'][key]:.2f} s, new {medians['new'][key]:.2f} s")


if __name__ == "__main__":
    main()
