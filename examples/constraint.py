"""Example: a constrained search, and an impossible constraint rejected up front.

Searches accuracy vs. edge-cpu latency on the embedded digits dataset (8x8 images, presented at 12x12) under a bound on
the number of parameters (``params <= --max-params``). Every candidate still gets evaluated
and recorded, but only those that satisfy the bound can enter the Pareto front.

Bounds on training-free metrics (params, FLOPs, latency, training-free custom objectives)
are checked against the space before the search starts: a bound that no network of the
space meets, such as ``params <= 10``, raises :class:`evonas.UserError` when the
:class:`evonas.Study` is created, before a single candidate is trained.

Run it::

    python examples/constraint.py --evaluations 10 --epochs 3 --max-params 120000 --out runs/constrained
"""

from __future__ import annotations

import argparse
import time

import evonas


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=10, help="candidates to evaluate")
    parser.add_argument("--epochs", type=float, default=3.0,
                        help="training epochs per candidate (the embedded digits need about 3)")
    parser.add_argument("--max-params", type=float, default=150_000, help="constraint: params <= this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=time.strftime("runs/constraint-%Y%m%d-%H%M%S"),
                        help="run directory (new or empty)")
    args = parser.parse_args(argv)

    problem = evonas.ImageClassification.from_options(
        objectives=[evonas.accuracy(), evonas.latency("edge-cpu")], seed=args.seed, epochs=args.epochs)

    # 1. An impossible bound fails fast, before anything is trained. (No out=: a Study given a
    #    run directory creates it before checking the constraints, which would leave an empty run.)
    impossible = evonas.Constraint("params", upper=10)
    try:
        evonas.Study(problem, evonas.RandomSearch(), constraints=[impossible], seed=args.seed)
    except evonas.UserError as exc:
        print(f"rejected before the search: {exc}")
    else:
        raise SystemExit(f"expected {impossible} to be rejected")

    # 2. A feasible bound: infeasible candidates are recorded but never enter the front.
    bound = evonas.Constraint("params", upper=args.max_params)
    with evonas.Study(problem, evonas.AgingEvolution(population=6, sample_size=2),
                      constraints=[bound], seed=args.seed, out=args.out) as study:
        result = study.optimize(evaluations=args.evaluations)

    feasible = [t for t in result.trials if t.feasible]
    print(f"{len(result.trials)} candidates, {len(feasible)} satisfy {bound}, {len(result.front)} on the front")
    for t in result.front:
        assert t.metrics["params"] <= args.max_params
        print(f"  #{t.id}: accuracy {t.metrics['accuracy']:.3f}  latency {t.metrics['latency_ms']:.3f} ms  "
              f"params {t.metrics['params']:.0f}  {t.genome}")
    for t in result.trials:
        if t.ok and not t.feasible:
            print(f"  #{t.id} excluded: params {t.metrics['params']:.0f} exceeds the bound by {t.violation:.0f}")


if __name__ == "__main__":
    main()
