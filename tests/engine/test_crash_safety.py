"""Crash safety: kill -9 and resume, one writer per run, damaged stores, failing candidates.

These are fault-injection tests with real processes and real files (no mocks).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evonas.api.study import Study
from evonas.cli import main
from evonas.core.errors import UserError
from evonas.core.problem import TrialState
from evonas.engine.driver import AllFailed
from evonas.engine.store import RunStore
from evonas.testing.synthetic import SyntheticProblem
from populations.aging import AgingEvolution
from conftest import shared_data

HISTORY = "SELECT id, genome, parent_id, operator, status, metrics FROM candidates ORDER BY id"


def _nb201_search(out: Path, evaluations: int, resume: bool = False) -> list[str]:
    table = shared_data("nb201") / "nb201_table.csv"
    if resume:
        return [sys.executable, "-m", "evonas", "search", "--resume", str(out), "--no-progress"]
    return [sys.executable, "-m", "evonas", "search", "--space", "nb201", "--table", str(table), "--strategy", "de",
            "--evaluations", str(evaluations), "--seed", "4", "--out", str(out), "--no-progress"]


def _rows(db: Path, sql: str = "SELECT COUNT(*) FROM candidates WHERE status != 'running'") -> int:
    try:
        with sqlite3.connect(db, timeout=0.05) as con:
            return con.execute(sql).fetchone()[0]
    except sqlite3.Error:
        return 0


def _kill_when(proc: subprocess.Popen, db: Path, at_least: int, timeout: float = 60.0) -> int:
    """kill -9 ``proc`` once ``db`` holds ``at_least`` finished candidates; returns how many it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if db.is_file() and _rows(db) >= at_least:
            break
        time.sleep(0.002)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return _rows(db) if alive else -1


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_history(tmp_path):
    evaluations, rng = 600, np.random.default_rng(11)
    reference = tmp_path / "reference"
    subprocess.run(_nb201_search(reference, evaluations), check=True, capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen(_nb201_search(run, evaluations), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_at = []
    for at in sorted(rng.integers(1, evaluations, size=3)):
        killed_at.append(_kill_when(proc, run / "run.db", int(at)))
        proc = subprocess.Popen(_nb201_search(run, evaluations, resume=True), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
    assert proc.wait() == 0, proc.stderr.read()
    with sqlite3.connect(reference / "run.db") as a, sqlite3.connect(run / "run.db") as b:
        expected, got = a.execute(HISTORY).fetchall(), b.execute(HISTORY).fetchall()
    assert all(0 < n < evaluations for n in killed_at), killed_at  # each kill hit a running search
    assert len(got) == evaluations
    assert got == expected  # ids, genomes, lineage, states and metrics, candidate by candidate


@pytest.mark.slow
def test_one_writer_per_run_and_a_killed_writers_lock_is_taken_over(tmp_path, capsys):
    run = tmp_path / "run"
    proc = subprocess.Popen(_nb201_search(run, 10**6), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _rows(run / "run.db") < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert main(["search", "--resume", str(run), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and f"in use by process {proc.pid}" in err
        assert main(["history", str(run), "--format", "json"]) == 0  # readers need no lock
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    capsys.readouterr()
    done = _rows(run / "run.db")
    assert main(["search", "--resume", str(run), "--evaluations", str(done + 5), "--no-progress"]) == 0
    assert _rows(run / "run.db") == done + 5


def test_a_second_writer_in_the_same_process_is_refused(tmp_path):
    study = Study(SyntheticProblem(), AgingEvolution(), out=tmp_path / "run")
    with pytest.raises(UserError, match="is in use by process"):
        RunStore.open(tmp_path / "run", writer=True)
    study.close()
    RunStore.open(tmp_path / "run", writer=True).close()  # released on close


DAMAGED = {
    "empty": b"",
    "garbage": b"this is not a database at all\n" * 100,
}


@pytest.mark.parametrize("kind", [*DAMAGED, "foreign sqlite"])
@pytest.mark.parametrize("command", ["resume", "front", "history", "export"])
def test_a_damaged_or_foreign_database_is_one_clear_error_and_left_untouched(kind, command, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    db = run / "run.db"
    if kind in DAMAGED:
        db.write_bytes(DAMAGED[kind])
    else:
        with sqlite3.connect(db) as con:
            con.execute("CREATE TABLE people (name TEXT)")
    before = db.read_bytes()
    argv = {"resume": ["search", "--resume", str(run), "--no-progress"], "front": ["front", str(run)],
            "history": ["history", str(run)], "export": ["export", str(run), "--out", str(tmp_path / "x")]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert any(word in err for word in ("empty", "corrupt", "not an evonas run")), err
    assert db.read_bytes() == before and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_truncated_weights_are_a_clear_error(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["search", "--strategy", "aging", "--evaluations", "2", "--epochs", "0.2", "--target", "cpu", "--min-seconds", "0.1",
                 "--compensate", "false",  # plain timing: the export's error is under test
                 "--population", "2", "--sample-size", "2", "--out", str(run), "--no-progress"]) == 0
    weights = sorted((run / "weights").glob("*.pt"))
    assert weights
    weights[0].write_bytes(weights[0].read_bytes()[:100])
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "onnx")]) == 2
    err = capsys.readouterr().err
    assert "truncated or corrupt" in err and len(err.strip().splitlines()) == 1


def test_injected_failures_are_recorded_and_the_search_completes(tmp_path):
    problem = SyntheticProblem(fail_every=3)  # every third genome code raises
    study = Study(problem, AgingEvolution(population=10), seed=2, out=tmp_path / "run")
    result = study.optimize(evaluations=300)
    study.close()
    failed = [t for t in result.trials if t.state is TrialState.FAILED]
    assert len(result.trials) == 300 and len(failed) >= 60
    assert all(t.error for t in failed) and not {t.id for t in failed} & {t.id for t in result.front}
    with RunStore.open(tmp_path / "run") as store:
        rows = store.candidates()
    assert sum(r.status is TrialState.FAILED and bool(r.error) for r in rows) == len(failed)


def test_a_search_where_every_candidate_fails_stops_with_a_clear_message(tmp_path):
    study = Study(SyntheticProblem(fail_every=1), AgingEvolution(), out=tmp_path / "run")
    with pytest.raises(AllFailed, match="the first 20 candidates all failed"):
        study.optimize(evaluations=1000)
    assert len(study.trials) == 20
    study.close()


@pytest.mark.parametrize("flags, message", [(["--seed", "-1"], "--seed must be 0 or positive"),
                                            (["--time-limit", "-5"], "--time-limit must be positive"),
                                            (["--time-limit", "nan"], "--time-limit must be positive and finite"),
                                            (["--evaluations", "0"], "--evaluations must be at least 1")])
def test_bad_budget_flags(flags, message, tmp_path, capsys):
    assert main(["search", "--space", "nb201", "--out", str(tmp_path / "r"), *flags]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "r").exists()
