"""The typed stored run (:class:`evonas.engine.results.StoredRun`): it round-trips a real run, and
every reader (front, history, report, resume; export in test_bundle) reads the database once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from evonas.api.study import Study
from evonas.cli import main
from evonas.core.problem import TrialState
from evonas.engine.results import StoredRun, StoredTrial
from evonas.engine.store import Measurement, RunStore
from evonas.testing.conformance import FAULTS
from evonas.testing.synthetic import SyntheticProblem
from populations.aging import AgingEvolution

GRID = ["search", "--space", "grid", "--no-progress", "--quiet"]


def count_connections(monkeypatch) -> list[Path]:
    """The database paths every ``sqlite3.connect`` opens from now on (the real connect still runs)."""
    opened: list[Path] = []
    real = sqlite3.connect

    def connect(path, *args, **kwargs):
        opened.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    return opened


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A finished synthetic run with failures and held-out scores: (run dir, its Study's result)."""
    out = tmp_path_factory.mktemp("stored") / "run"
    problem = SyntheticProblem(2, **FAULTS)
    with Study(problem, AgingEvolution(population=6), seed=4, out=out) as study:
        for _ in range(30):
            pending = study.ask()
            study.tell(pending, study.search.evaluate(pending), scores={"test": float(pending.id)})
        result, space = study.result(), problem.space
    return out, result, space


def test_a_stored_run_round_trips_the_search(synthetic):
    out, result, space = synthetic
    run = StoredRun.read(out, space)
    assert [t.id for t in run.trials] == [t.id for t in result.trials] == list(range(30))
    by_id = {t.id: t for t in result.trials}
    for t in run.trials:
        assert isinstance(t, StoredTrial) and isinstance(t.state, TrialState)
        assert t.state is by_id[t.id].state and t.genome == by_id[t.id].genome  # parsed, equal to the search's
        assert type(t.genome) is type(by_id[t.id].genome)
        assert json.dumps(t.metrics) == json.dumps(by_id[t.id].metrics)  # NaN metrics of failed trials too
        assert t.finished_at >= t.started_at and t.eval_seconds >= 0
    failed = [t for t in run.trials if t.state is TrialState.FAILED]
    assert failed and all(t.error and np.isnan(t.values).all() for t in failed)
    assert run.scores == result.scores and run.scores[7] == {"test": 7.0}
    assert [(t.id, t.metrics) for t in run.front] == [(t.id, t.metrics) for t in result.front]
    assert [n for n, _, _ in run.hypervolume] == [n for n, _, _ in result.hypervolume]
    assert [hv for *_, hv in run.hypervolume] == pytest.approx([hv for *_, hv in result.hypervolume])
    assert run.seed == 4 and run.next_id == 30 and not run.running and len(run.failed) == len(failed)
    assert [e["event"] for e in run.versions] == ["created"]


def test_without_a_space_the_genomes_are_their_stored_strings(synthetic):
    out, result, space = synthetic
    run = StoredRun.read(out)
    assert [t.genome for t in run.trials] == [str(t.genome) for t in result.trials]
    assert run.parsed(space).trials[3].genome == result.trials[3].genome


def test_measurements_read_back_as_typed_records(tmp_path):
    from evonas.engine.store import CandidateRow

    with RunStore.create(tmp_path / "r", {"objectives": []}) as store:
        store.record(CandidateRow(0, "g0", None, "random", TrialState.OK, None, {}, 0.0, None, 1.0, 2.0, 1.0),
                     {"target": "edge-cpu", "result": {"median_ms": 1.5}, "fingerprint": {"cpu": "x"}})
    run = StoredRun.read(tmp_path / "r")
    (m,) = run.measurements
    assert isinstance(m, Measurement) and (m.candidate_id, m.target, m.result) == (0, "edge-cpu", {"median_ms": 1.5})
    assert run.fingerprint == {"cpu": "x"} and run.trials[0].state is TrialState.OK


@pytest.mark.parametrize("command", [["front"], ["front", "--format", "json"], ["history"],
                                     ["history", "--format", "json"]])
def test_front_and_history_read_the_database_once(synthetic, command, monkeypatch, capsys):
    out, result, _ = synthetic
    opened = count_connections(monkeypatch)
    assert main([command[0], str(out), *command[1:]]) == 0
    assert opened == [out / "run.db"]
    text = capsys.readouterr().out
    if command == ["front", "--format", "json"]:
        assert [r["id"] for r in json.loads(text)] == [t.id for t in result.front]
    if command == ["history", "--format", "json"]:
        assert {r["status"] for r in json.loads(text)} == {"ok", "failed"}


def test_a_report_reads_the_database_once(synthetic, tmp_path, monkeypatch):
    from evonas.report import write_report

    out, result, _ = synthetic
    opened = count_connections(monkeypatch)
    report = write_report(out, tmp_path / "report")
    assert opened == [out / "run.db"]
    assert [t.id for t in report.view.front] == [t.id for t in result.front]
    assert all(isinstance(t.state, TrialState) for t in report.view.candidates)


def test_a_search_prints_the_front_it_holds_and_a_resume_opens_the_store_once(tmp_path, monkeypatch, capsys):
    out = tmp_path / "grid"
    opened = count_connections(monkeypatch)
    assert main([*GRID, "--evaluations", "12", "--out", str(out)]) == 0
    assert opened == [out / "run.db"]  # created once; the front printed is the search's, not re-read
    main([*GRID[:-1], "--resume", str(out), "--evaluations", "20"])
    printed = capsys.readouterr().out
    assert opened == [out / "run.db"] * 2  # the resume: one writer connection for spec, settings and trials
    run = StoredRun.read(out)
    assert len(run.trials) == 20 and [e["event"] for e in run.versions] == ["created", "resumed"]
    assert f"Pareto front ({len(run.front)} members" in printed
    for t in run.front:
        assert str(t.genome) in printed


def test_study_resume_continues_from_the_stored_run(synthetic, tmp_path):
    import shutil

    out, result, space = synthetic
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    with Study.resume(copy, SyntheticProblem(2, **FAULTS), AgingEvolution(population=6)) as study:
        assert [t.id for t in study.trials] == [t.id for t in result.trials]
        assert all(isinstance(t.state, TrialState) for t in study.trials)
        assert [t.id for t in study.search.front()] == [t.id for t in result.front]
        assert study.search.scores == result.scores
        resumed = study.optimize(evaluations=34)
    assert len(resumed.trials) == 34 and len(StoredRun.read(copy).told) == 34
