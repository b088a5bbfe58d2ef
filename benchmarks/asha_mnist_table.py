"""The hypervolume table of docs/benchmarks.md ("ASHA against full fidelity on MNIST") from a results.json.

    python benchmarks/asha_mnist_table.py benchmarks/results/asha_mnist/results.json [--at 5,10,15,20,30,45]

Prints, per budget B, the median over seeds (and each seed's value) of the hypervolume of the
front held once B epochs were spent, for both arms of ``benchmarks/asha_mnist.py``, then each
seed's fraction of the budget ASHA needed to reach the full-fidelity run's final hypervolume,
its trials per arm and its promotions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from asha_mnist import at, epochs_to_reach


def table(results: dict, budgets: list[float]) -> str:
    """The markdown table and the lines under it."""
    (asha_name, asha), (full_name, full) = results["runs"].items()
    budget = results["args"]["epoch_budget"]
    lines = [f"| epochs B | {asha_name} | per seed | {full_name} | per seed |", "|---|---|---|---|---|"]
    for b in budgets:
        a = [at(r["curve"], b) for r in asha]
        f = [at(r["curve"], b) for r in full]
        digits = 4 if b == budget else 3
        ma, mf = np.median(a), np.median(f)
        cells = [f"{ma:.{digits}f}", f"{mf:.{digits}f}"]
        if round(ma, digits) != round(mf, digits):
            best = 0 if ma > mf else 1
            cells[best] = f"**{cells[best]}**"
        label = f"{b:g} (the budget)" if b == budget else f"{b:g}"
        lines.append(f"| {label} | {cells[0]} | {', '.join(f'{v:.{digits}f}' for v in a)} | {cells[1]} | "
                     f"{', '.join(f'{v:.{digits}f}' for v in f)} |")
    lines.append("")
    for seed, (ra, rf) in enumerate(zip(asha, full)):
        target = rf["curve"][-1][2]
        reached = epochs_to_reach(ra["curve"], target)
        where = "never" if reached is None else f"{reached / budget:.2f} of the budget ({reached:.2f} epochs)"
        short = "" if reached is not None else f" ({target - ra['curve'][-1][2]:.4f} short)"
        lines.append(f"seed {seed}: ASHA reached full fidelity's final hv {target:.4f}: {where}{short}; "
                     f"trials {ra['trials']} (promotions {ra['promotions']}) against {rf['trials']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--at", default="5,10,15,20,30,45", help="budgets in epochs, comma-separated")
    args = ap.parse_args()
    results = json.loads(args.results.read_text())
    print(table(results, [float(b) for b in args.at.split(",")]))


if __name__ == "__main__":
    main()
