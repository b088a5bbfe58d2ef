"""Markdown table of median hv_gap per benchmark, budget and strategy or peer, from results.json files.

Usage: python benchmarks/summary_table.py OUT_ROOT/*/results.json [--baseline optuna-tpe] [--names a,b]
                                          [--replace OTHER_ROOT] [--quartiles]
Each row is one results.json (a pair), each cell "median (ratio to the baseline's median)", with
--quartiles "median [q25, q75] (ratio)"; a pair whose results say "honest": false is marked. With
--replace, the strategies found in OTHER_ROOT/<pair>/results.json (a later run of some of them, e.g.
with a new default) replace those of the same name.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def rows(paths: list[Path], baseline: str, names: list[str] | None, replace: Path | None = None,
         quartiles: bool = False) -> list[str]:
    results = [(p.parent.name, json.loads(p.read_text())) for p in paths]
    for pair, res in results:
        other = None if replace is None else replace / pair / "results.json"
        if other is not None and other.is_file():
            res["summary"].update(json.loads(other.read_text())["summary"])
    first = results[0][1]
    names = names or list(first["strategies"])
    budgets = [str(c) for c in first["reported_checkpoints"]]
    metric = "hv_gap" if "hv_gap" in next(iter(first["summary"].values())) else "hv"
    head = ["pair", "floor"] + [f"{n} @{b}" for b in budgets for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for pair, res in results:
        floor = res["problem"].get("hv_gap_floor")
        honest = "" if res["problem"].get("honest", True) else " (not honest)"
        cells = [pair + honest, "" if floor is None else f"{floor:.4f}"]
        for b in budgets:
            base = res["summary"].get(baseline, {}).get(metric, {}).get(b, {}).get("median")
            for n in names:
                st = res["summary"][n][metric][b]
                med = st["median"]
                ratio = f" ({med / base:.2f}x)" if base else ""
                spread = f" [{st['q25']:.4f}, {st['q75']:.4f}]" if quartiles else ""
                cells.append(f"{med:.4f}{spread}{ratio}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", type=Path)
    p.add_argument("--baseline", default="optuna-tpe")
    p.add_argument("--names", default=None, help="comma-separated strategies and peers to show")
    p.add_argument("--replace", type=Path, default=None, help="a root of later runs of some strategies")
    p.add_argument("--quartiles", action="store_true", help="show the first and third quartiles too")
    args = p.parse_args()
    names = args.names.split(",") if args.names else None
    print("\n".join(rows(args.results, args.baseline, names, args.replace, args.quartiles)))


if __name__ == "__main__":
    main()
