"""Crash-safety benchmark: kill -9 a search at random moments, resume each time, and compare
the final history with an uninterrupted run's, candidate by candidate.

    python benchmarks/kill_resume.py [--data ../shared/data] [--kills 20] [--evaluations 2000]
        [--strategy de] [--seed 0] [--search "..."]

By default an nb201 search; ``--search`` replaces the problem's flags, e.g. real training under
ASHA, killed mid-rung (checkpoints included)::

    python benchmarks/kill_resume.py --kills 5 --evaluations 40 --strategy lemonade \
        --search "--space mobilenet --objectives accuracy,params --schedule asha --min-epochs 0.25 --max-epochs 2.25"

Prints one JSON object: the kill points, whether every kill hit a running search, and whether
the final history (ids, genomes, lineage, operators, states, fidelities, metrics but the
measured seconds) equals the uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HISTORY = "SELECT id, genome, parent_id, operator, status, fidelity, metrics FROM candidates ORDER BY id"
TIMED = ("train_seconds",)
"""Metrics that are wall-clock measurements, which no two runs share."""


def history(db: Path) -> list[tuple]:
    """Every candidate's row, its timed metrics left out."""
    with sqlite3.connect(db) as con:
        rows = con.execute(HISTORY).fetchall()
    return [(*row[:-1], {k: v for k, v in json.loads(row[-1]).items() if k not in TIMED}) for row in rows]


def finished(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=0.05) as con:
            return con.execute("SELECT COUNT(*) FROM candidates WHERE status != 'running'").fetchone()[0]
    except sqlite3.Error:
        return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--evaluations", type=int, default=2000)
    ap.add_argument("--strategy", default="de")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--search", default=None, help="the search's problem flags (default: nb201 on --data's table)")
    args = ap.parse_args()
    table = Path(args.data) / "nb201" / "nb201_table.csv"
    problem = shlex.split(args.search) if args.search else ["--space", "nb201", "--table", str(table)]
    base = [sys.executable, "-m", "evonas", "search", "--no-progress"]
    new = base + problem + ["--strategy", args.strategy, "--evaluations", str(args.evaluations),
                            "--seed", str(args.seed)]
    with tempfile.TemporaryDirectory() as tmp:
        reference, run = Path(tmp) / "reference", Path(tmp) / "killed"
        t0 = time.perf_counter()
        subprocess.run(new + ["--out", str(reference)], check=True, capture_output=True)
        uninterrupted_s = time.perf_counter() - t0
        points = sorted(np.random.default_rng(args.seed).choice(np.arange(1, args.evaluations), args.kills,
                                                                replace=False).tolist())
        proc = subprocess.Popen(new + ["--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        killed_at = []
        for at in points:
            while proc.poll() is None and finished(run / "run.db") < at:
                time.sleep(0.001)
            alive = proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed_at.append(finished(run / "run.db") if alive else None)
            proc = subprocess.Popen(base + ["--resume", str(run)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        code = proc.wait()
        expected, got = history(reference / "run.db"), history(run / "run.db")
    print(json.dumps({"search": problem, "evaluations": args.evaluations, "strategy": args.strategy, "kills": args.kills,
                      "killed_at_finished_candidates": killed_at,
                      "every_kill_hit_a_running_search": all(k is not None for k in killed_at),
                      "last_resume_exit_code": code, "uninterrupted_seconds": round(uninterrupted_s, 2),
                      "final_history_equal": got == expected, "candidates": len(got)}, indent=1))


if __name__ == "__main__":
    main()
