"""spls's early-phase variants on NB201's tuning pairs under the honest protocol (issue 25).

The tuning pairs are the ones the reported tables leave out: c10 x Eyeriss and c100 x Raspberry
Pi 4 (benchmarks/nb201_honest.sh's search and score columns). Each variant is spls with some
options changed (VARIANTS below, or ``name=key:value;key:value`` on the command line); every
variant runs the same seeds, one run at a time; hv_gap at the checkpoints is kept per seed in
OUT (JSON; runs already there are not repeated, so OUT grows as variants are added) and the
median per variant and pair is printed with its ratio to Optuna's TPE (``optuna-tpe``, run
like a variant).

Usage: python benchmarks/spls_early.py OUT.json VARIANT [VARIANT ...] [--pairs c10-eyeriss,c100-raspi4]
           [--seeds 20] [--checkpoints 100,300] [--data ../shared/data]
       python benchmarks/spls_early.py OUT.json --summarise
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

COSTS = {"fpga": "hwnb_fpga_lat_ms_c10", "pixel3": "hwnb_pixel3_lat_ms_c10",
         "eyeriss": "hwnb_eyeriss_lat_ms_c10", "raspi4": "hwnb_raspi4_lat_ms_c10"}
VARIANTS = {
    "default": {},
    "quantile": {"design": "quantile"},
    "maximin": {"design": "maximin"},
    "quantile10": {"design": "quantile", "n_init": 10},
    "maximin10": {"design": "maximin", "n_init": 10},
    "global4": {"global_every": 4},
    "quantile-global4": {"design": "quantile", "global_every": 4},
}


def pair_options(pair: str, data: str) -> dict:
    """nb201 problem options of a pair such as ``c10-eyeriss`` (the honest protocol's columns)."""
    dataset, cost = pair.split("-")
    search = "c10valid_valid_acc_200ep_mean" if dataset == "c10" else f"{dataset}_test_acc_12ep_1run"
    return dict(table=str(Path(data) / "nb201" / "nb201_table.csv"), search_column=search,
                score_column=f"{dataset}_test_acc_200ep_mean", cost_column=(COSTS[cost],))


def parse_variant(text: str) -> tuple[str, dict]:
    """``name`` (from VARIANTS) or ``name=key:value;key:value`` -> (name, spls options)."""
    if "=" not in text:
        return text, VARIANTS.get(text, {})
    name, body = text.split("=", 1)
    options = {}
    for item in filter(None, body.split(";")):
        key, value = item.split(":", 1)
        options[key] = json.loads(value) if value[:1] in "0123456789-tf[{" else value
    return name, options


def run_variant(pair: str, name: str, options: dict, seeds: range, checkpoints: tuple[int, ...], data: str) -> list:
    """hv_gap at ``checkpoints`` of each seed's run (spls with ``options``, or the peer ``name``)."""
    from evonas.api.compare import BenchmarkPlan, run_one
    from evonas.api.spec import RunSpec, build_constraints, build_problem

    spec = RunSpec(space="nb201", problem_options=pair_options(pair, data))
    peer = name.startswith("optuna-")
    plan = BenchmarkPlan.create(spec, "spls", checkpoints[-1], len(seeds), options,
                                checkpoints=",".join(map(str, checkpoints)), peers=name if peer else "")
    problem = build_problem(plan.spec)
    constraints = build_constraints(plan.spec, problem)
    gaps = []
    for seed in seeds:
        run = run_one(problem, plan, name if peer else "spls", seed, constraints)
        gaps.append([run["hv_gap"][plan.checkpoints.index(c)] for c in checkpoints])
    return gaps


def summarise(results: dict) -> None:
    """Median hv_gap per pair, variant and checkpoint, with the ratio to optuna-tpe's."""
    for pair, variants in results["runs"].items():
        tpe = np.median(variants["optuna-tpe"]["hv_gap"], axis=0) if "optuna-tpe" in variants else None
        print(f"{pair} (checkpoints {results['checkpoints']})")
        for name, run in variants.items():
            median = np.median(run["hv_gap"], axis=0)
            cells = [f"{m:.4f}" + (f" ({m / t:.2f}x)" if tpe is not None else "") for m, t in
                     zip(median, tpe if tpe is not None else median)]
            print(f"  {name:28s} {'  '.join(cells)}   {json.dumps(run['options'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("variants", nargs="*")
    parser.add_argument("--pairs", default="c10-eyeriss,c100-raspi4")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--checkpoints", default="100,300")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--summarise", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    checkpoints = tuple(int(c) for c in args.checkpoints.split(","))
    results = json.loads(out.read_text()) if out.exists() else {"checkpoints": list(checkpoints), "runs": {}}
    if results["checkpoints"] != list(checkpoints) and not args.summarise:
        print(f"{out} holds checkpoints {results['checkpoints']}, not {list(checkpoints)}", file=sys.stderr)
        return 2
    for pair in args.pairs.split(",") if not args.summarise else ():
        for text in args.variants:
            name, options = parse_variant(text)
            if name in results["runs"].get(pair, {}):
                continue
            gaps = run_variant(pair, name, options, range(args.seeds), checkpoints, args.data)
            results["runs"].setdefault(pair, {})[name] = {"options": options, "hv_gap": gaps}
            out.write_text(json.dumps(results, indent=1))
            print(f"{pair} {name}: median {np.median(gaps, axis=0).round(4).tolist()}", flush=True)
    summarise(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
