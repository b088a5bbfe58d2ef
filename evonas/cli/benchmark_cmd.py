"""``evonas benchmark PROBLEM [problem options] --strategies a,b [--peers p,q] --checkpoints 100,300 --seeds K --out DIR``.

``--epoch-budget E [--schedule asha --eta 3]``: budgets and checkpoints in epochs; with a schedule
every strategy runs at full fidelity and under it (``spls``, ``spls+asha``) in the same command."""

from __future__ import annotations

import sys
from pathlib import Path

from evonas.cli.plugin_flags import add_plugin_flags, given_options, peek

STRATEGY_FLAGS = {  # applied to every compared strategy that declares the option
    "--population": ("population", int, "population size of the strategies that have one"),
    "--sample-size": ("sample_size", int, "tournament size of aging evolution"),
}


def register(sub, argv: list[str]) -> None:
    from evonas.api import registry

    p = sub.add_parser("benchmark", help="compare strategies over many seeds on a benchmark problem")
    p.add_argument("problem", help="benchmark problem (search space): nb201 or ofa")
    p.add_argument("--constraint", dest="constraints", action="append", default=None,
                   help="bound on a metric, e.g. 'latency_ms<=25' (repeatable)")
    p.add_argument("--max-latency", dest="max_latency", type=float, default=None,
                   help="bound on latency_ms (nb201: on the first cost column)")
    p.add_argument("--strategies", default="random,aging,de,nsga2", help="comma-separated strategy names")
    p.add_argument("--peers", default="", help="other libraries' samplers run beside them, comma-separated: "
                   + ", ".join(registry.PEERS) + " (pip install -e '.[peers]')")
    p.add_argument("--evaluations", type=int, default=None,
                   help="evaluations per run [default: the last checkpoint, else 300]")
    p.add_argument("--checkpoints", default=None,
                   help="budgets to report, e.g. 100,300,1000: medians and quartiles over seeds [default: the last]")
    p.add_argument("--epoch-budget", dest="epoch_budget", type=float, default=None,
                   help="budget per run in training epochs (the problem's fidelities, e.g. nb201 --fidelity-columns) "
                   "instead of evaluations; --checkpoints then count epochs")
    p.add_argument("--schedule", default="none",
                   help="with --epoch-budget: also run every strategy under this multi-fidelity schedule (asha), "
                   "named NAME+asha, at the same budget [default: none]")
    p.add_argument("--seeds", type=int, default=20, help="runs per strategy, seeds 0..K-1 [default: 20]")
    p.add_argument("--jobs", type=int, default=1, help="processes to spread the runs over [default: 1]")
    for flag, (name, typ, text) in STRATEGY_FLAGS.items():
        p.add_argument(flag, dest=f"strategy.{name}", type=typ, default=None, help=f"{text} [default: the strategy's]")
    p.add_argument("--out", required=True, help="directory for results.json and the plots")
    problem = next((a for a in argv[1:] if not a.startswith("-")), None) if argv[:1] == ["benchmark"] else None
    if problem in registry.PROBLEMS:
        add_plugin_flags(p, registry.problem_factory(problem), "problem", f"options of {problem}")
    schedule = peek(argv, "--schedule", "none") if argv[:1] == ["benchmark"] else "none"
    add_plugin_flags(p, registry.schedule_class(schedule), "schedule", f"options of --schedule {schedule} "
                     "(min/max epochs default to the table's lowest and highest fidelity)")
    p.set_defaults(func=run)


def run(args) -> int:
    from evonas.api.compare import BenchmarkPlan, check_out_dir, format_table, run_benchmark, write_results
    from evonas.api.spec import RunSpec
    from evonas.core.errors import UserError

    out = Path(args.out)
    check_out_dir(out)
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {args.jobs}")
    spec = RunSpec(space=args.problem, problem_options=given_options(args, "problem"),
                   constraints=tuple(args.constraints or ()), max_latency=args.max_latency,
                   schedule=args.schedule, schedule_options=given_options(args, "schedule"),
                   epoch_budget=args.epoch_budget)
    plan = BenchmarkPlan.create(spec, args.strategies, args.evaluations, args.seeds, given_options(args, "strategy"),
                                peers=args.peers, checkpoints=args.checkpoints)
    results = run_benchmark(plan, log=lambda line: print(line, file=sys.stderr, flush=True), jobs=args.jobs)
    print("\n".join(format_table(results)))
    for path in write_results(results, out):
        print(f"wrote {path}")
    return 0
