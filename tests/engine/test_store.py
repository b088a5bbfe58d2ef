import sqlite3
from datetime import datetime
from importlib import metadata

import pytest
import torch

from evonas.core.errors import UserError
from evonas.core.problem import TrialState
from evonas.engine.store import CandidateRow, RunStore


def _row(i, status=TrialState.OK, **kw):
    base = dict(id=i, genome=f"g{i}", parent_id=None if i == 0 else i - 1, operator="op", status=status,
                fidelity=1.0, metrics={"accuracy": 0.5 + i / 100}, violation=0.0, error=None,
                started_at=100.0 + i, finished_at=101.0 + i, eval_seconds=1.0)
    base.update(kw)
    return CandidateRow(**base)


def test_records_are_visible_to_another_connection_at_once(tmp_path):
    store = RunStore.create(tmp_path / "r", {"search": {"seed": 1}})
    store.record(_row(0))
    store.record(_row(1, status=TrialState.FAILED, error="RuntimeError: boom", metrics={}))
    # a second, independent reader sees both rows without the writer closing: crash-safe
    other = sqlite3.connect(tmp_path / "r" / "run.db")
    assert [r[0] for r in other.execute("SELECT status FROM candidates ORDER BY id")] == ["ok", "failed"]
    reopened = RunStore.open(tmp_path / "r")
    assert reopened.candidates() == [_row(0), _row(1, status=TrialState.FAILED, error="RuntimeError: boom",
                                              metrics={})]
    assert [r.status for r in reopened.candidates()] == [TrialState.OK, TrialState.FAILED]
    assert reopened.config == {"search": {"seed": 1}}
    assert reopened.next_id() == 2


def test_create_refuses_existing_run_and_non_empty_dir(tmp_path):
    RunStore.create(tmp_path / "r", {}).close()
    with pytest.raises(UserError, match="already holds a run"):
        RunStore.create(tmp_path / "r", {})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        RunStore.create(tmp_path / "other", {})
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_open_requires_a_run(tmp_path):
    with pytest.raises(UserError, match="not a run directory"):
        RunStore.open(tmp_path)


def test_weights_round_trip_and_prune(tmp_path):
    store = RunStore.create(tmp_path / "r", {})
    for i in range(3):
        store.save_weights(i, {"w": torch.full((2,), float(i))})
    assert torch.equal(store.load_weights(2)["w"], torch.tensor([2.0, 2.0]))
    store.prune_weights({1})
    assert not store.weights_path(0).exists() and store.weights_path(1).exists()
    with pytest.raises(UserError, match="no weights for candidate 0"):
        store.load_weights(0)


def _version_events(store):
    return [(v["version"], v["event"]) for v in store.versions()]


def test_a_created_run_records_the_evonas_version(tmp_path):
    with RunStore.create(tmp_path / "r", {}) as store:
        (record,) = store.versions()
    assert (record["version"], record["event"]) == (metadata.version("evonas"), "created")
    assert datetime.fromisoformat(record["at"]).tzinfo is not None


def test_a_resume_appends_a_version_record_and_a_reader_changes_nothing(tmp_path):
    RunStore.create(tmp_path / "r", {}).close()
    with RunStore.open(tmp_path / "r") as reader:
        with pytest.raises(RuntimeError, match="writer"):
            reader.record_resume()
    with RunStore.open(tmp_path / "r", writer=True) as writer:
        writer.record_resume()
    with RunStore.open(tmp_path / "r") as store:
        assert _version_events(store) == [(metadata.version("evonas"), "created"),
                                          (metadata.version("evonas"), "resumed")]


def test_a_run_from_before_version_records_opens_and_starts_them_at_its_resume(tmp_path):
    RunStore.create(tmp_path / "r", {"seed": 1}).close()
    with sqlite3.connect(tmp_path / "r" / "run.db") as db:  # as an older evonas wrote it
        db.execute("DELETE FROM meta WHERE key = 'versions'")
    with RunStore.open(tmp_path / "r") as store:
        assert store.versions() == [] and store.config == {"seed": 1}
    with RunStore.open(tmp_path / "r", writer=True) as writer:
        writer.record_resume()
        assert _version_events(writer) == [(metadata.version("evonas"), "resumed")]
