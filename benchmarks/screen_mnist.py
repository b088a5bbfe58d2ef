"""A zero-cost proxy as a screen and as LEMONADE's prior, against neither, at equal wall time on MNIST (issue 28).

    python benchmarks/screen_mnist.py [--data $EVONAS_SHARED_DATA/mnist] [--arms none,screen,prior] [--seeds 3]
        [--seconds 240] [--proxy nwot] [--screen-k 8] [--prior-strength 1] [--prior-draws 1] [--resolution 14]
        [--epochs E] [--objectives accuracy,params] [--out benchmarks/results/screen_mnist]

For each seed, the default search on the mobilenet space (LEMONADE with its default options)
runs once per arm, each for the same ``--seconds`` of wall time (``Study.optimize(seconds=)``):

- ``none``: LEMONADE as it is;
- ``screen``: LEMONADE behind ``Screened(k=--screen-k)``: each candidate trained is the best of k
  proposals by the proxy (every random genome of P0 included);
- ``prior``: ``Lemonade(prior=proxy)``: the proxy's rank among a generation's children weighs
  which ``n_ac`` of them are accepted (P0 stays random unless ``--prior-draws`` > 1).

The arms alternate within each seed (seed 0: none, screen, prior; seed 1: screen, prior, none;
...), so a drift of the machine's speed hits them alike. After every trial the wall seconds since
``optimize`` began and the front's hypervolume are recorded. The objectives default to accuracy
and parameters, whose hypervolume bounds are declared (accuracy in [0, 1], parameters from 0 to
1.1 x the largest network's), so hypervolumes compare across runs. A run's final hypervolume is
the one reached within ``--seconds`` (the trial running at the deadline finishes after it and is
not counted).

Writes ``results.json`` (every curve) and ``hypervolume.png`` (median and quartiles against wall
seconds) under ``--out``, and prints the median final hypervolume per arm and each seed's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ARMS = ("none", "screen", "prior")


def arm_order(arms: list[str], seed: int) -> list[str]:
    """``arms`` rotated by ``seed``: each arm runs first, second, ... equally often over the seeds."""
    shift = seed % len(arms)
    return arms[shift:] + arms[:shift]


def strategy_for(arm: str, proxy, args: argparse.Namespace):
    """The default strategy (LEMONADE, defaults) as ``arm`` runs it."""
    from populations.lemonade import Lemonade
    from populations.screen import Screened

    if arm == "screen":
        return Screened(Lemonade(), proxy, args.screen_k)
    if arm == "prior":
        return Lemonade(prior=proxy, prior_strength=args.prior_strength, prior_draws=args.prior_draws)
    return Lemonade()


def one_run(args: argparse.Namespace, seed: int, arm: str) -> dict:
    """One search of ``args.seconds``; its curve of (seconds, hypervolume) after every trial."""
    import evonas
    from evonas.api.registry import OBJECTIVES

    objectives = [OBJECTIVES.get(name)() for name in args.objectives.split(",")]
    data = None if args.data == "embedded" else args.data
    options = {} if args.epochs is None else {"epochs": args.epochs}
    problem = evonas.ImageClassification.from_options(objectives, seed=seed, data=data,
                                                      resolution=args.resolution, **options)
    curve: list[tuple[float, float]] = []
    t0 = [time.perf_counter()]

    def record(search, trial) -> None:
        curve.append((time.perf_counter() - t0[0], search.hypervolume()))

    study = evonas.Study(problem, strategy_for(arm, OBJECTIVES.get(args.proxy)(), args), seed=seed,
                         callbacks=(record,))
    t0[0] = time.perf_counter()
    result = study.optimize(seconds=args.seconds)
    study.close()
    return {"seed": seed, "curve": curve, "trials": len(result.trials), "front": len(result.front),
            "final_hv": at(curve, args.seconds), "seconds": time.perf_counter() - t0[0]}


def at(curve: list, seconds: float) -> float:
    """The hypervolume a curve had reached once ``seconds`` of wall time had passed."""
    reached = [hv for t, hv in curve if t <= seconds]
    return reached[-1] if reached else 0.0


def plot(runs: dict, seconds: float, objectives: str, out: Path) -> None:
    """Median and quartiles of the hypervolume against wall seconds, one band per arm."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    xs = np.linspace(0, seconds, 200)
    for arm, per_seed in runs.items():
        ys = np.array([[at(r["curve"], x) for x in xs] for r in per_seed])
        q1, med, q3 = np.percentile(ys, [25, 50, 75], axis=0)
        ax.plot(xs, med, label=arm)
        ax.fill_between(xs, q1, q3, alpha=0.25)
    ax.set_xlabel("wall seconds")
    ax.set_ylabel(f"hypervolume ({objectives})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "hypervolume.png", dpi=120)


def summarise(runs: dict) -> dict:
    """Per arm: the median final hypervolume, and each seed's final hypervolume and trials."""
    return {arm: {"median_final_hv": float(np.median([r["final_hv"] for r in per_seed])),
                  "final_hv": {r["seed"]: r["final_hv"] for r in per_seed},
                  "trials": {r["seed"]: r["trials"] for r in per_seed}}
            for arm, per_seed in runs.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("EVONAS_SHARED_DATA", "../shared/data"))
    ap.add_argument("--data", default=str(shared / "mnist"), help="an MNIST folder, or 'embedded' (a smoke test) "
                    "[default: $EVONAS_SHARED_DATA/mnist, else ../shared/data/mnist]")
    ap.add_argument("--arms", default=",".join(ARMS), help="comma-separated, of: " + ", ".join(ARMS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=240, help="wall seconds per run")
    ap.add_argument("--proxy", default="nwot", help="a registered training-free objective: synflow, snip, grad_norm, nwot")
    ap.add_argument("--screen-k", type=int, default=8, help="proposals per candidate trained (arm screen)")
    ap.add_argument("--prior-strength", type=float, default=1.0, help="the prior's rank-weight exponent (arm prior)")
    ap.add_argument("--prior-draws", type=int, default=1,
                    help="arm prior: each P0 genome the best of this many random draws by the proxy (1: P0 random)")
    ap.add_argument("--resolution", type=int, default=14)
    ap.add_argument("--epochs", type=float, default=None, help="training epochs per candidate (default: the problem's)")
    ap.add_argument("--objectives", default="accuracy,params")
    ap.add_argument("--out", default="benchmarks/results/screen_mnist")
    args = ap.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if not arms or set(arms) - set(ARMS) or len(set(arms)) != len(arms) or args.seeds < 1 or not args.seconds > 0:
        ap.exit(2, f"screen_mnist.py: --arms takes distinct names of {', '.join(ARMS)}, --seeds at least 1, "
                   "--seconds positive\n")
    args.arms = arms
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    runs: dict[str, list] = {arm: [] for arm in args.arms}
    for seed in range(args.seeds):
        for arm in arm_order(args.arms, seed):
            runs[arm].append(one_run(args, seed, arm))
            last = runs[arm][-1]
            print(f"seed {seed} {arm}: {last['trials']} trials, hv {last['final_hv']:.4f} at {args.seconds:g} s",
                  flush=True)
    summary = summarise(runs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"args": vars(args), "summary": summary, "runs": runs}, indent=1))
    plot(runs, args.seconds, args.objectives, out)
    print(f"\nmedian final hypervolume at {args.seconds:g} s over {args.seeds} seeds (per seed):")
    for arm, s in summary.items():
        per_seed = ", ".join(f"{hv:.4f}" for hv in s["final_hv"].values())
        print(f"  {arm:<7} {s['median_final_hv']:.4f}  ({per_seed})")
    print(f"written: {out / 'results.json'}, {out / 'hypervolume.png'}", file=sys.stderr)


if __name__ == "__main__":
    main()
