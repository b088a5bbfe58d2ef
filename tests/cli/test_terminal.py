"""The terminal: --quiet, --json-log, the progress bar's fields, units in the front table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evonas.api.callbacks import JsonLog
from evonas.api.study import Study
from evonas.testing.synthetic import SyntheticProblem
from populations.aging import AgingEvolution

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--strategy", "aging", "--evaluations", "3", "--epochs", "0.2", "--population", "2", "--sample-size", "2",
        "--repeats-min", "10", "--min-seconds", "0", "--compensate", "false"]
"""Latency: 10 plain timed runs, no 1 s floor (the CLI is under test; tests/hardware/test_drift.py checks
compensation, which on a busy machine measures each latency again, up to three times)."""


def _evonas(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evonas", *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


@pytest.mark.slow
def test_quiet_search_prints_nothing_and_json_log_has_one_object_per_evaluation(tmp_path):
    log = tmp_path / "log.jsonl"
    done = _evonas("search", "--out", str(tmp_path / "run"), "--quiet", "--json-log", str(log), *TINY)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["id"] for r in records] == [0, 1, 2] and [r["evaluations"] for r in records] == [1, 2, 3]
    assert all(r["state"] == "ok" and 0 <= r["metrics"]["accuracy"] <= 1 and r["metrics"]["latency_ms"] > 0
               for r in records)
    assert records[-1]["front_size"] >= 1 and records[-1]["hypervolume"] > 0
    # a resumed run appends to its log
    again = _evonas("search", "--resume", str(tmp_path / "run"), "--evaluations", "4", "--quiet",
                    "--json-log", str(log))
    assert again.returncode == 0, again.stderr
    assert [json.loads(line)["id"] for line in log.read_text().splitlines()] == [0, 1, 2, 3]


@pytest.mark.slow
def test_progress_bar_and_front_table(tmp_path):
    done = _evonas("search", "--out", str(tmp_path / "run"), *TINY)
    assert done.returncode == 0, done.stderr
    bar = done.stderr.replace("\r", "\n").splitlines()
    assert any("3/3" in line and "failed=0" in line and "front=" in line and "hv=" in line for line in bar)
    assert any("<" in line and ("s/eval" in line or "eval/s" in line) for line in bar)  # elapsed<remaining, rate
    header = next(line for line in done.stdout.splitlines() if line.startswith("id "))
    assert "latency_ms (ms)" in header


@pytest.mark.slow
def test_an_unwritable_json_log_is_one_line_and_exit_2(tmp_path):
    done = _evonas("search", "--out", str(tmp_path / "run"), "--json-log", str(tmp_path / "no" / "log.jsonl"),
                   *TINY)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "JSON log" in done.stderr
    assert not (tmp_path / "run").exists()


def test_json_log_from_the_python_api_counts_failures(tmp_path):
    log = JsonLog(tmp_path / "log.jsonl")
    study = Study(SyntheticProblem(2, fail_every=7), AgingEvolution(population=6), seed=0, callbacks=[log])
    result = study.optimize(evaluations=40)
    log.close()
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    failed = sum(not t.ok for t in result.trials)
    assert len(records) == 40 and failed > 0
    assert records[-1]["failed"] == failed
    assert all("injected failure" in r["error"] for r in records if r["state"] == "failed")
