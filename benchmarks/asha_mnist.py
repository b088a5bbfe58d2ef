"""ASHA against full-fidelity training at an equal epoch budget, on MNIST (issue 28).

    python benchmarks/asha_mnist.py [--data ../shared/data/mnist] [--seeds 3] [--epoch-budget 45]
        [--min-epochs 0.25] [--max-epochs 2.25] [--eta 3] [--resolution 14] [--strategy lemonade]
        [--objectives accuracy,params] [--out benchmarks/results/asha_mnist]

For each seed, the same strategy (the mobilenet default, LEMONADE) runs twice in this one
command, one after the other: with ``ASHA(min_epochs, max_epochs, eta)`` and at full fidelity
(every new candidate trains ``max_epochs``; LEMONADE's children fine-tune its default
``inherit_epochs``), each until ``--epoch-budget`` training epochs are spent (a promotion
counts the epochs it adds). After every trial it records the epochs spent, the wall seconds and
the front's hypervolume (the schedule's front holds only its top rung: full-fidelity results
against full-fidelity results). The objectives default to accuracy and parameters, which are
exact, so the hypervolumes compare without timing noise.

Writes ``results.json`` (every curve) and ``hypervolume.png`` (median and quartiles against
epochs and against wall time) under ``--out``, and prints the median final hypervolumes and,
per seed, the fraction of the budget ASHA needed to reach the full-fidelity run's final
hypervolume. ``--seed-list``, ``--arms`` and ``--merge`` split the work over processes: e.g. one
process per seed of one arm, merged with the other arm's runs from an earlier ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def one_run(args: argparse.Namespace, seed: int, scheduled: bool) -> dict:
    """One search; its curve of (epochs spent, seconds, hypervolume) after every trial."""
    import evonas
    from evonas.api.registry import OBJECTIVES, strategy_class

    objectives = [OBJECTIVES.get(name)() for name in args.objectives.split(",")]
    data = None if args.data == "embedded" else args.data
    problem = evonas.ImageClassification.from_options(objectives, seed=seed, data=data,
                                                      epochs=args.max_epochs, resolution=args.resolution)
    schedule = evonas.ASHA(args.min_epochs, args.max_epochs, args.eta) if scheduled else None
    curve: list[tuple[float, float, float]] = []
    t0 = time.perf_counter()

    def record(search, trial) -> None:
        curve.append((search.epochs_spent, time.perf_counter() - t0, search.hypervolume()))

    study = evonas.Study(problem, strategy_class(args.strategy)(), seed=seed, schedule=schedule,
                         callbacks=(record,))
    result = study.optimize(epochs=args.epoch_budget)
    study.close()
    return {"curve": curve, "trials": len(result.trials), "front": len(result.front),
            "promotions": sum(t.operator == "promote" for t in result.trials)}


def at(curve: list, x: float, column: int = 0) -> float:
    """The hypervolume a curve had reached once ``x`` epochs (column 0) or seconds (column 1) were spent."""
    reached = [hv for point in curve if point[column] <= x for hv in [point[2]]]
    return reached[-1] if reached else 0.0


def epochs_to_reach(curve: list, target: float) -> float | None:
    """The epochs spent when the curve first reached ``target`` (None: never)."""
    return next((e for e, _, hv in curve if hv >= target - 1e-12), None)


def plot(runs: dict, budget: float, out: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    for ax, column, label in ((fig.add_subplot(1, 2, 1), 0, "training epochs spent"),
                              (fig.add_subplot(1, 2, 2), 1, "wall seconds")):
        for name, per_seed in runs.items():
            end = budget if column == 0 else max(c["curve"][-1][1] for c in per_seed)
            xs = np.linspace(0, end, 100)
            ys = np.array([[at(c["curve"], x, column) for x in xs] for c in per_seed])
            q1, med, q3 = np.percentile(ys, [25, 50, 75], axis=0)
            ax.plot(xs, med, label=name)
            ax.fill_between(xs, q1, q3, alpha=0.25)
        ax.set_xlabel(label)
        ax.set_ylabel("hypervolume")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "hypervolume.png", dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/mnist", help="an MNIST folder, or 'embedded' (a smoke test)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-list", default=None, help="comma-separated seeds to run (default: 0 .. --seeds - 1)")
    ap.add_argument("--arms", default="asha,full", help="which arms to run: asha, full or both")
    ap.add_argument("--merge", default=None, help="comma-separated --out folders of earlier runs: combine their "
                    "runs (in the order given) into --out's results.json and plot, running nothing")
    ap.add_argument("--epoch-budget", type=float, default=45)
    ap.add_argument("--min-epochs", type=float, default=0.25)
    ap.add_argument("--max-epochs", type=float, default=2.25)
    ap.add_argument("--eta", type=float, default=3)
    ap.add_argument("--resolution", type=int, default=14)
    ap.add_argument("--strategy", default="lemonade")
    ap.add_argument("--objectives", default="accuracy,params")
    ap.add_argument("--out", default="benchmarks/results/asha_mnist")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = {True: f"{args.strategy}+asha", False: f"{args.strategy} (full fidelity)"}
    runs: dict[str, list] = {name: [] for name in names.values()}
    if args.merge:
        for folder in args.merge.split(","):
            for name, per_seed in json.loads((Path(folder) / "results.json").read_text())["runs"].items():
                runs.setdefault(name, []).extend(per_seed)
    else:
        seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
        arms = [arm == "asha" for arm in ("asha", "full") if arm in args.arms.split(",")]
        for seed in seeds:
            for scheduled in arms:
                runs[names[scheduled]].append({"seed": seed, **one_run(args, seed, scheduled)})
                print(f"seed {seed} {names[scheduled]}: {runs[names[scheduled]][-1]['trials']} trials, "
                      f"hv {runs[names[scheduled]][-1]['curve'][-1][2]:.4f}", flush=True)
                (out / "results.json").write_text(json.dumps({"args": vars(args), "runs": runs}))  # so far
    runs = {name: per_seed for name, per_seed in runs.items() if per_seed}
    if len(runs) < 2 or len({len(per_seed) for per_seed in runs.values()}) > 1:
        (out / "results.json").write_text(json.dumps({"args": vars(args), "runs": runs}, indent=1))
        return  # one arm, or unequal seeds: merge with --merge to compare
    asha, full = runs[names[True]], runs[names[False]]
    fractions = [epochs_to_reach(a["curve"], f["curve"][-1][2]) for a, f in zip(asha, full)]
    summary = {
        name: {"median_final_hv": float(np.median([r["curve"][-1][2] for r in per_seed])),
               "final_hv": [r["curve"][-1][2] for r in per_seed],
               "seconds": [r["curve"][-1][1] for r in per_seed], "trials": [r["trials"] for r in per_seed]}
        for name, per_seed in runs.items()}
    summary["asha_fraction_of_budget_to_reach_full_fidelity_final_hv"] = [
        None if f is None else f / args.epoch_budget for f in fractions]
    (out / "results.json").write_text(json.dumps({"args": vars(args), "summary": summary, "runs": runs}, indent=1))
    plot(runs, args.epoch_budget, out)
    print(json.dumps({"args": vars(args), "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
