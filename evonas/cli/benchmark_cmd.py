"""``evonas benchmark PROBLEM [problem options] --strategies a,b --evaluations N --seeds K --out DIR``."""

from __future__ import annotations

import sys
from pathlib import Path

from evonas.cli.search_cmd import PROBLEM_FLAGS
from evonas.config import SearchConfig


def register(sub) -> None:
    p = sub.add_parser("benchmark", help="compare strategies over many seeds on a benchmark problem")
    p.add_argument("problem", help="benchmark problem (search space): nb201 or ofa")
    defaults = SearchConfig()
    for flag, (name, typ, text) in PROBLEM_FLAGS.items():
        p.add_argument(flag, dest=name, type=typ, default=None, help=f"{text} [default: {getattr(defaults, name)}]")
    p.add_argument("--constraint", dest="constraints", action="append", default=None,
                   help="bound on a metric, e.g. 'latency_ms<=25' (repeatable)")
    p.add_argument("--strategies", default="random,aging,de,nsga2", help="comma-separated strategy names")
    p.add_argument("--evaluations", type=int, default=300, help="evaluations per run [default: 300]")
    p.add_argument("--seeds", type=int, default=20, help="runs per strategy, seeds 0..K-1 [default: 20]")
    p.add_argument("--population", type=int, default=None,
                   help=f"population size of evolutionary strategies [default: {defaults.population}]")
    p.add_argument("--sample-size", type=int, default=None,
                   help=f"tournament size of aging evolution [default: {defaults.sample_size}]")
    p.add_argument("--out", required=True, help="directory for results.json and the plots")
    p.set_defaults(func=run)


def run(args) -> int:
    from evonas.benchmark import BenchmarkPlan, check_out_dir, run_benchmark, write_results

    out = Path(args.out)
    check_out_dir(out)
    names = [name for name, *_ in PROBLEM_FLAGS.values()] + ["population", "sample_size"]
    given = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if args.constraints:
        given["constraints"] = tuple(args.constraints)
    config = SearchConfig(space=args.problem, **given)
    plan = BenchmarkPlan.create(config, args.strategies, args.evaluations, args.seeds)
    results = run_benchmark(plan, log=lambda line: print(line, file=sys.stderr, flush=True))
    for path in write_results(results, out):
        print(f"wrote {path}")
    return 0
