"""spls with two implementations of its surrogate, side by side on NB201 under the honest protocol.

Two worker processes, one per checkout (each imports evonas from its own checkout through
PYTHONPATH), run the same (pair, seed) jobs one at a time, interleaved (old then new on even
seeds, new then old on odd ones), so both see the same machine speed. Each run is spls with its
defaults, no peers, 1,000 evaluations; hv_gap at the checkpoints and wall seconds per run are
recorded, and OUT rewritten after every seed. Prints, per pair and checkpoint, the median hv_gap [quartiles] of both, and the median
over seeds of the per-seed wall-time ratio new / old; writes every run to OUT (JSON).

Usage: python benchmarks/spls_gp_ab.py OLD_CHECKOUT NEW_CHECKOUT OUT.json [--seeds 20] [--first-seed 0]
           [--pairs c10-fpga,c100-pixel3,in16-fpga] [--data ../shared/data]
       python benchmarks/spls_gp_ab.py --summarise OUT.json [OUT2.json ...]   (the table again, runs pooled)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CHECKPOINTS = (100, 300, 1000)
COSTS = {"fpga": "hwnb_fpga_lat_ms_c10", "pixel3": "hwnb_pixel3_lat_ms_c10"}


def pair_options(pair: str, data: str) -> dict:
    """nb201 problem options of a pair such as ``c10-fpga`` (benchmarks/nb201_honest.sh's columns)."""
    dataset, cost = pair.split("-")
    search = "c10valid_valid_acc_200ep_mean" if dataset == "c10" else f"{dataset}_test_acc_12ep_1run"
    return dict(table=str(Path(data) / "nb201" / "nb201_table.csv"), search_column=search,
                score_column=f"{dataset}_test_acc_200ep_mean", cost_column=(COSTS[cost],))


def worker() -> None:
    """Answer one JSON line per job line ``{"pair", "seed", "data"}`` read from stdin."""
    from evonas.api.compare import BenchmarkPlan, run_one
    from evonas.api.spec import RunSpec, build_constraints, build_problem

    built: dict = {}
    for line in sys.stdin:
        job = json.loads(line)
        if job["pair"] not in built:
            spec = RunSpec(space="nb201", problem_options=pair_options(job["pair"], job["data"]))
            plan = BenchmarkPlan.create(spec, "spls", CHECKPOINTS[-1], 1, {},
                                        checkpoints=",".join(map(str, CHECKPOINTS)))
            problem = build_problem(plan.spec)
            built[job["pair"]] = (plan, problem, build_constraints(plan.spec, problem))
        plan, problem, constraints = built[job["pair"]]
        run = run_one(problem, plan, "spls", job["seed"], constraints)
        gaps = [run["hv_gap"][plan.checkpoints.index(c)] for c in CHECKPOINTS]  # it records 20 checkpoints
        print(json.dumps({"hv_gap": gaps, "seconds": run["seconds"]}), flush=True)


def start(checkout: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(checkout).resolve())}
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def ask(proc: subprocess.Popen, job: dict) -> dict:
    proc.stdin.write(json.dumps(job) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"worker exited with {proc.wait()}")
    return json.loads(line)


def _reported(gaps: list) -> list:
    """hv_gap at 100, 300, 1000 (a run kept by an earlier version of this script has every 50th evaluation)."""
    return [gaps[1], gaps[5], gaps[19]] if len(gaps) == 20 else gaps


def summary(runs: dict) -> dict:
    """Per pair: median and quartiles of hv_gap per checkpoint for both, and time ratios."""
    out = {}
    for pair, byname in runs.items():
        row = {}
        for name in ("old", "new"):
            gaps = np.array([_reported(r["hv_gap"]) for r in byname[name]])
            row[name] = {str(c): [float(np.percentile(gaps[:, i], q)) for q in (25, 50, 75)]
                         for i, c in enumerate(CHECKPOINTS)}
            row[name]["median_seconds"] = float(np.median([r["seconds"] for r in byname[name]]))
        ratios = [n["seconds"] / o["seconds"] for o, n in zip(byname["old"], byname["new"])]
        row["time_ratio_new_old"] = [float(np.percentile(ratios, q)) for q in (25, 50, 75)]
        out[pair] = row
    return out


def main() -> None:
    if sys.argv[1:] == ["--worker"]:
        return worker()
    if sys.argv[1:2] == ["--summarise"]:  # one or more result files (e.g. seeds 0-9 and 10-19), pooled
        results = [json.loads(Path(f).read_text()) for f in sys.argv[2:]]
        runs = {pair: {n: [r for res in results for r in res["runs"][pair][n]] for n in ("old", "new")}
                for pair in results[0]["runs"]}
        return report({"runs": runs, "summary": summary(runs)})
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old"), p.add_argument("new"), p.add_argument("out")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--pairs", default="c10-fpga,c100-pixel3,in16-fpga")
    p.add_argument("--data", default=os.environ.get("EVONAS_SHARED_DATA", "../shared/data"))
    args = p.parse_args()
    for checkout in (args.old, args.new):
        if not (Path(checkout) / "populations" / "surrogate_pls.py").is_file():
            print(f"spls_gp_ab: {checkout} is not an evonas checkout", file=sys.stderr)
            raise SystemExit(2)
    procs = {"old": start(args.old), "new": start(args.new)}
    runs = {pair: {"old": [], "new": []} for pair in args.pairs.split(",")}
    for seed in range(args.first_seed, args.first_seed + args.seeds):  # outermost: stopped early, pairs have as many
        for pair in runs:
            for name in ("old", "new") if seed % 2 == 0 else ("new", "old"):
                runs[pair][name].append(ask(procs[name], {"pair": pair, "seed": seed, "data": args.data}))
            print(pair, seed, {n: round(runs[pair][n][-1]["seconds"], 2) for n in procs}, file=sys.stderr, flush=True)
        result = {"old": str(args.old), "new": str(args.new), "seeds": [args.first_seed, seed],
                  "checkpoints": list(CHECKPOINTS),
                  "runs": runs, "summary": summary(runs)}
        Path(args.out).write_text(json.dumps(result, indent=1))  # after every seed
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    report(result)


def report(result: dict) -> None:
    """Print one line per pair: medians [quartiles] of both at each checkpoint, seconds per run, time ratio."""
    for pair, row in result["summary"].items():
        cells = "  ".join(f"@{c}: old {row['old'][str(c)][1]:.4f} [{row['old'][str(c)][0]:.4f}, {row['old'][str(c)][2]:.4f}]"
                          f" new {row['new'][str(c)][1]:.4f} [{row['new'][str(c)][0]:.4f}, {row['new'][str(c)][2]:.4f}]"
                          for c in CHECKPOINTS)
        print(f"{pair}  {cells}  s/run old {row['old']['median_seconds']:.2f} new {row['new']['median_seconds']:.2f}"
              f"  new/old {row['time_ratio_new_old'][1]:.2f}")


if __name__ == "__main__":
    main()
