"""The lookup-table latency predictor, its fingerprint check, OFA import, and the profile CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from evonas.mobilenet.builder import build
from evonas.cli import main
from evonas.core.errors import UserError
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from evonas.engine.store import RunStore
from hardware.layers import genome_layers, space_layers
from hardware.lut import LatencyTable, PredictedLatency, build_table, entry_protocol, fit_correction
from hardware.ofa_lut import load_ofa_table, ofa_latency_ms, ofa_table_path
from hardware.registry import get_target
from hardware.targets import TimingProtocol
from conftest import shared_data

pytestmark = pytest.mark.xdist_group("lut")  # tiny_table is timed once per xdist worker that uses it

DIGITS = (1, 12, 12)  # the embedded default dataset as a search presents it: 8x8 grey digits at 12x12, 10 classes
QUICK_TIMING = ["--compensate", "false", "--repeats-min", "10", "--min-seconds", "0"]
"""A short plain latency timing, where a test checks the CLI's output, not the timing (tests/hardware/test_drift.py
checks compensation)."""
TINY_SPACE = SpaceConfig(stem_widths=(8,), stage_widths=((8,), (16,), (16,), (24,), (24,)),
                         depths=(1, 2), kernels=(3, 5), expands=(3,), stem_stride=1)


def test_fit_correction_recovers_a_linear_relation():
    rng = np.random.default_rng(0)
    sums, blocks = rng.uniform(5, 40, 40), rng.integers(5, 20, 40).astype(float)
    x = np.column_stack([sums, blocks, np.ones(40)])
    y = x @ np.array([0.9, -0.05, 0.3])
    assert np.mean(np.abs(x @ fit_correction(x, y) - y) / y) < 0.01


@pytest.fixture(scope="module")
def tiny_table() -> LatencyTable:
    target = get_target("edge-cpu")
    target.protocol = TimingProtocol(warmup_min=5, warmup_max=20, repeats_min=10, min_seconds=0.0)
    target.compensation = replace(target.compensation, calibration_seconds=0.1)  # 100 reference runs still
    return build_table(target, TINY_SPACE, (3, 16, 16), 10, calibration=3, entry_protocol=entry_protocol(5),
                       passes=2)


def test_table_covers_the_space_and_predicts(tiny_table):
    assert set(tiny_table.entries) == {layer.key for layer in space_layers(TINY_SPACE, (3, 16, 16), 10)}
    assert all(v > 0 for v in tiny_table.entries.values())
    genome = MobileNetSpace(TINY_SPACE).sample(np.random.default_rng(1))
    assert tiny_table.predict(genome, TINY_SPACE) > 0
    predictor = PredictedLatency(tiny_table)
    model = build(genome, TINY_SPACE, (3, 16, 16), 10)
    assert predictor.measure(model, (3, 16, 16)).median_ms == pytest.approx(tiny_table.predict(genome, TINY_SPACE))
    with pytest.raises(UserError, match="no entry"):  # layers at another resolution are not in the table
        tiny_table.layer_sum(genome_layers(genome, TINY_SPACE, (3, 32, 32), 10))


def test_saved_table_round_trips_and_is_never_overwritten(tiny_table, tmp_path):
    path = tiny_table.save(tmp_path / "t.json")
    loaded = LatencyTable.load(path)
    assert loaded.entries == tiny_table.entries and loaded.correction == pytest.approx(tiny_table.correction)
    with pytest.raises(UserError, match="already exists"):
        tiny_table.save(path)


@pytest.mark.parametrize("field,value", [("cpu_model", "Another CPU @ 9GHz"), ("onnxruntime", "0.1.0")])
def test_table_from_another_machine_is_refused_unless_forced(tiny_table, tmp_path, field, value):
    data = tiny_table.to_dict()
    data["fingerprint"][field] = value
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=f"{field}.*--force-lut"):
        LatencyTable.load(path)
    with pytest.warns(UserWarning, match=field):
        assert LatencyTable.load(path, force=True).entries == tiny_table.entries


def test_unknown_table_version_is_refused(tiny_table, tmp_path):
    path = tmp_path / "v99.json"
    path.write_text(json.dumps({**tiny_table.to_dict(), "version": 99}))
    with pytest.raises(UserError, match="format version 99"):
        LatencyTable.load(path, force=True)


def test_ofa_note10_table_reproduces_the_tutorial_network():
    root = shared_data("ofa_mbv3") / "raw" / "latency_table@note10"
    table = load_ofa_table(ofa_table_path(root, 192))
    ks = [5, 3, 3, 3, 5, 3, 3, 3, 7, 7, 3, 3, 5, 5, 7, 3, 3, 3, 5, 3]  # '-' slots filled: beyond the depth
    e = [3, 3, 3, 3, 4, 4, 3, 3, 6, 3, 4, 3, 4, 4, 4, 3, 6, 6, 6, 3]
    assert ofa_latency_ms(table, ks, e, [2, 2, 3, 4, 3], 192) == pytest.approx(24.73, abs=0.005)
    with pytest.raises(UserError, match="resolution 224"):
        ofa_latency_ms(table, ks, e, [2, 2, 3, 4, 3], 224)


# -- CLI -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_lut(tmp_path_factory) -> Path:
    """``evonas profile build-lut`` for the embedded digits as a search presents them (1x12x12, 10 classes), kept fast:
    its ~2000 layers timed without drift compensation (3x faster; ``tiny_table`` builds a compensated table)."""
    out = tmp_path_factory.mktemp("lut") / "digits.json"
    assert main(["profile", "build-lut", "--target", "edge-cpu", "--input-shape", "1,12,12", "--num-classes", "10",
                 "--out", str(out), "--repeats", "3", "--calibration", "3", "--passes", "1",
                 *QUICK_TIMING]) == 0  # the calibration networks: 10 timed runs
    return out


@pytest.mark.slow  # profiles every layer of a space, peak memory in a process (digits_lut)
def test_build_lut_cli_writes_a_loadable_table_and_refuses_overwrite(digits_lut, capsys):
    table = LatencyTable.load(digits_lut)
    assert table.input_shape == DIGITS and table.num_classes == 10 and table.target == "edge-cpu"
    assert len(table.entries) == len(space_layers(SpaceConfig.for_resolution(12), DIGITS, 10))
    capsys.readouterr()
    assert main(["profile", "build-lut", "--input-shape", "1,12,12", "--out", str(digits_lut)]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.slow  # latency and peak memory (a process) of two networks; digits_lut
def test_profile_cli_json_keys_with_prediction(digits_lut, capsys):
    capsys.readouterr()
    assert main(["profile", "--random", "2", "--seed", "4", "--input-shape", "1,12,12", "--num-classes", "10",
                 "--lut", str(digits_lut), *QUICK_TIMING]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert {"genome", "params", "flops", "latency_ms", "peak_memory_mb", "predicted_latency_ms"} <= row.keys()
        assert {"median", "iqr"} <= row["latency_ms"].keys()
        assert row["latency_ms"]["median"] > 0 and row["predicted_latency_ms"] > 0 and row["peak_memory_mb"] > 0
    assert main(["profile", rows[0]["genome"], "--input-shape", "1,12,12", "--num-classes", "10", "--no-memory",
                 "--format", "table", *QUICK_TIMING]) == 0
    assert rows[0]["genome"] in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["profile", "stem8|c16_re_se0:k3"], "malformed genome"),
    (["profile", "--random", "1", "--input-shape", "3,224"], "--input-shape"),
    (["profile", "--random", "1", "--input-shape", "3,0,9"], "--input-shape"),
    (["profile"], "give genome strings"),
    (["profile", "build-lut", "--input-shape", "3,16,16"], "needs --out"),
])
def test_profile_cli_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_search_with_predicted_latency_records_measurements(digits_lut, tmp_path):
    out = tmp_path / "run"
    assert main(["search", "--strategy", "aging", "--lut", str(digits_lut), "--evaluations", "3", "--epochs",
                 "0.2", "--population", "2", "--sample-size", "2", "--out", str(out), "--no-progress"]) == 0
    table = LatencyTable.load(digits_lut)
    config = SpaceConfig.for_resolution(12)
    with RunStore.open(out) as store:
        rows, measurements = store.candidates(), store.measurements()
    assert len(rows) == 3 and len(measurements) == 3
    for row, m in zip(rows, measurements):
        genome = MobileNetSpace(config).parse(row.genome)
        assert row.metrics["latency_ms"] == pytest.approx(table.predict(genome, config))
        assert m.candidate_id == row.id and m.target == "predicted:edge-cpu"
        assert m.fingerprint["cpu_model"] and m.fingerprint["target"]["lut"] == str(digits_lut)


def test_search_with_a_missing_table_is_one_clear_error(tmp_path, capsys):
    assert main(["search", "--lut", str(tmp_path / "none.lut.json"), "--evaluations", "1",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "cannot read latency table" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
