"""``evonas export`` as deployment bundles, on one real small run: dynamic-batch ONNX files with
parity, model cards and manifest, int8 quantisation, reproduce commands, all-or-nothing writing."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from evonas.api.spec import RunSpec, export_plan, search_args
from evonas.api.study import SearchResult
from evonas.cli import build_parser, main
from evonas.cli.search_cmd import spec_from_args
from evonas.engine.results import StoredRun
from evonas.engine.store import load_weights
from evonas.mobilenet.space import MobileNetSpace
from evonas.mobilenet.builder import build
from evonas.mobilenet.data import embedded_default, load_npz

SEARCH = ["search", "--strategy", "aging", "--target", "onnx-cpu", "--evaluations", "4", "--epochs", "0.5",
          "--population", "2", "--sample-size", "2", "--min-seconds", "0.1", "--seed", "3",
          "--objectives", "accuracy,latency_ms",
          "--custom-objective", "size_mb=test_bundle:size_mb:min:free", "--no-progress", "--quiet"]
INT8_ACCURACY_DROP = 0.05
"""Measured on these digits runs (half an epoch): int8 accuracy within 0.02 of float; 0.05 leaves room
for other seeds."""


def size_mb(model, genome, context) -> float:
    """A custom objective with a unit: the float32 weights' size."""
    return sum(p.numel() for p in model.parameters()) * 4 / 1e6


size_mb.unit = "MB"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "run"
    assert main([*SEARCH, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    """The run exported once with ``--quantize int8``, in this process: (export dir, manifest, CLI output)."""
    out = tmp_path_factory.mktemp("exports") / "bundle"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["export", str(run_dir), "--out", str(out), "--quantize", "int8"])
    assert code == 0, stderr.getvalue()
    return out, json.loads((out / "manifest.json").read_text()), stdout.getvalue()


def _front(run_dir: Path, capsys) -> list[dict]:
    assert main(["front", str(run_dir), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _torch_model(run_dir: Path, cid: int):
    run = StoredRun.read(run_dir)
    plan = export_plan(run)
    space = MobileNetSpace(plan.space_config)
    model = build(run.parsed(space).trial(cid).genome, space.config, plan.input_shape, plan.num_classes)
    model.load_state_dict(load_weights(run_dir, cid))
    return model.eval()


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    return err


@pytest.mark.slow
def test_bundles_cover_the_front_with_their_files(exported, run_dir, capsys):
    out, manifest, _ = exported
    front = _front(run_dir, capsys)
    assert [m["candidate_id"] for m in manifest["models"]] == [f["id"] for f in front]
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *(m["dir"] for m in manifest["models"])])
    for m in manifest["models"]:
        assert m["dir"] == f"candidate_{m['candidate_id']}" and m["on_front"]
        assert sorted(p.name for p in (out / m["dir"]).iterdir()) == ["MODEL_CARD.md", "model.int8.onnx", "model.onnx"]
    assert not list(out.parent.glob(".bundle.partial-*"))


@pytest.mark.slow
def test_onnx_files_have_a_dynamic_batch_and_match_torch_at_batch_1_and_8(exported, run_dir):
    out, manifest, _ = exported
    for m in manifest["models"]:
        path = out / m["file"]
        graph = onnx.load(path)
        onnx.checker.check_model(graph, full_check=True)
        for value in (graph.graph.input[0], graph.graph.output[0]):
            assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
        assert [graph.graph.input[0].name, graph.graph.output[0].name] == ["input", "logits"]
        model = _torch_model(run_dir, m["candidate_id"])
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for n in (1, 8):
            x = torch.randn(n, *manifest["input_shape"], generator=torch.Generator().manual_seed(n))
            with torch.no_grad():
                expected = model(x).numpy()
            got = sess.run(None, {"input": x.numpy()})[0]
            assert got.shape == (n, 10) and np.abs(got - expected).max() <= 1e-4
        assert m["max_abs_diff"] <= 1e-4 and set(m["parity"]) == {"1", "8"}


@pytest.mark.slow
def test_manifest_and_card_describe_objectives_preprocessing_and_latency(exported, run_dir, capsys):
    out, manifest, _ = exported
    front = {f["id"]: f for f in _front(run_dir, capsys)}
    digits = embedded_default()
    c, h, w = manifest["input_shape"]
    assert manifest["input"] == {"name": "input", "dtype": "float32", "shape": ["batch", c, h, w], "layout": "NCHW"}
    assert manifest["output"]["shape"] == ["batch", 10] and manifest["output"]["class_names"] == list("0123456789")
    pre = manifest["preprocessing"]
    assert pre["mean"] == list(digits.normalisation.mean) and pre["std"] == list(digits.normalisation.std)
    assert pre["raw_range"] == [0.0, 16.0] and pre["raw_shape"] == [1, 8, 8]
    resize = pre["resize"]  # the search presents the digits at its own resolution
    assert (resize is None) == ([h, w] == [8, 8]) and (resize is None or resize["to"] == [h, w])
    assert [(o["name"], o["unit"]) for o in manifest["objectives"]] == [("accuracy", ""), ("latency_ms", "ms"),
                                                                        ("size_mb", "MB")]
    assert manifest["target"]["name"] == "onnx-cpu"
    for m in manifest["models"]:
        f = front[m["candidate_id"]]
        assert m["genome"] == f["genome"] and m["objectives"] == f["objectives"]
        assert m["units"] == {"accuracy": "", "latency_ms": "ms", "size_mb": "MB"}
        assert m["accuracy_onnx"] == pytest.approx(m["accuracy_search"], abs=0.01)
        latency = m["latency"]
        assert latency["target"] == "onnx-cpu" and latency["measured_on"] == "model.onnx"
        assert latency["median_ms"] > 0 and latency["iqr_ms"] >= 0 and latency["not_measured"] is None
        card = (out / m["dir"] / "MODEL_CARD.md").read_text()
        assert m["genome"] in card and "`input`" in card and f"[batch, {c}, {h}, {w}]" in card and "NCHW" in card
        assert "[batch, 10]" in card and "logits" in card and "values in [0, 16]" in card
        assert repr(pre["mean"][0]) in card and repr(pre["std"][0]) in card
        for name, unit in [("accuracy", "(none)"), ("latency_ms", "ms"), ("size_mb", "MB")]:
            assert f"| {name} | " in card and f" | {unit} | " in card
        assert f"{latency['median_ms']:.4g} ms [IQR {latency['iqr_ms']:.2g}]" in card and "onnx-cpu" in card
        assert f"--select {m['candidate_id']} --quantize int8" in card


@pytest.mark.slow
def test_the_reproduce_command_parses_back_to_the_stored_spec(exported, run_dir):
    _, manifest, _ = exported
    stored = RunSpec.from_dict(StoredRun.read(run_dir).spec)
    for m in manifest["models"]:
        argv = shlex.split(m["commands"]["search"])
        assert argv[:2] == ["evonas", "search"]
        assert spec_from_args(build_parser(argv[1:]).parse_args(argv[1:])) == stored
        export = shlex.split(m["commands"]["export"])
        assert export[:3] == ["evonas", "export", str(run_dir)] and export[-4:] == [
            "--select", str(m["candidate_id"]), "--quantize", "int8"]


def test_search_args_round_trip_every_field():
    spec = RunSpec(space="mobilenet", problem_options={"epochs": 0.25, "val_fraction": 0.3, "data": "d.npz"},
                   strategy="lemonade", strategy_options={"n_init": 3}, objectives=("accuracy", "params"),
                   custom_objectives=("size=m:f:min:free",), target="edge-cpu",
                   target_options={"pin_core": "none", "min_seconds": 0.3, "raise_priority": False},
                   lut="t.lut.json", force_lut=True, constraints=("params<=1e6", "accuracy>=0.5"), max_latency=2.5,
                   init=("stem16|c16_re_se0:k3e4",), evaluations=7, time_limit=60.0, seed=4, noise_aware=True)
    argv = ["search", *search_args(spec)]
    assert spec_from_args(build_parser(argv).parse_args(argv)) == spec
    assert search_args(RunSpec()) == []


@pytest.mark.slow
def test_int8_model_is_quantized_and_reported_beside_the_float_one(exported):
    out, manifest, stdout = exported
    for m in manifest["models"]:
        int8 = m["int8"]
        assert int8["file"] == f"{m['dir']}/model.int8.onnx" and int8["size_bytes"] < m["size_bytes"]
        ops = {n.op_type for n in onnx.load(out / int8["file"]).graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops or "QLinearConv" in ops
        assert set(int8["quantized_ops"]) <= ops and int8["calibration_samples"] == 256
        assert int8["accuracy"] >= m["accuracy_onnx"] - INT8_ACCURACY_DROP
        assert int8["latency"]["median_ms"] > 0 and int8["latency"]["iqr_ms"] >= 0
        card = (out / m["dir"] / "MODEL_CARD.md").read_text()
        assert f"| `model.int8.onnx` | {int8['accuracy']:.4g} | {int8['latency']['median_ms']:.4g} ms" in card
        sess = ort.InferenceSession(str(out / int8["file"]), providers=["CPUExecutionProvider"])
        assert sess.run(None, {"input": np.zeros((8, *manifest["input_shape"]), np.float32)})[0].shape == (8, 10)
    header = next(line for line in stdout.splitlines() if line.startswith("candidate "))
    assert header.split() == ["candidate", "model", "accuracy", "latency", "median", "[IQR]", "size"]
    for m in manifest["models"]:
        assert f"{m['accuracy_onnx']:.4f}" in stdout and f"{m['int8']['accuracy']:.4f}" in stdout
        assert f"{m['int8']['latency']['median_ms']:.4g} ms" in stdout


@pytest.mark.slow
def test_select_exports_a_chosen_candidate_through_the_python_api(run_dir, tmp_path, capsys):
    cid = _front(run_dir, capsys)[-1]["id"]
    result = SearchResult((), [], [], [], run_dir=run_dir)
    out = tmp_path / "one"
    models = result.export(out, select=[cid])
    assert [m.candidate_id for m in models] == [cid] and models[0].int8 is None
    assert sorted(p.name for p in (out / f"candidate_{cid}").iterdir()) == ["MODEL_CARD.md", "model.onnx"]


@pytest.mark.parametrize("select,message", [("99", "--select 99: not a successful candidate"),
                                            ("x", "expected candidate ids")])
@pytest.mark.slow
def test_an_unknown_select_id_is_one_line_exit_2_nothing_written(run_dir, tmp_path, capsys, select, message):
    out = tmp_path / "out"
    assert main(["export", str(run_dir), "--out", str(out), "--select", select]) == 2
    assert message in _one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_candidate_whose_weights_were_not_kept_is_one_line_exit_2(run_dir, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    cid = _front(copy, capsys)[0]["id"]
    (copy / "weights" / f"{cid}.pt").unlink()  # as a search prunes candidates that left the front
    assert main(["export", str(copy), "--out", str(tmp_path / "out"), "--select", str(cid)]) == 2
    assert "kept no weights" in _one_line_error(capsys) and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.slow
def test_an_existing_non_empty_out_dir_is_refused_and_untouched(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", str(run_dir), "--out", str(out)]) == 2
    assert "not empty" in _one_line_error(capsys)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.slow
def test_a_failure_on_a_later_member_leaves_nothing_behind(run_dir, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    ids = [f["id"] for f in _front(copy, capsys)]
    assert len(ids) >= 2
    weights = copy / "weights" / f"{ids[1]}.pt"  # the second member: the first is exported (staged) before it
    weights.write_bytes(weights.read_bytes()[:200])
    out = tmp_path / "exports" / "bundle"
    assert main(["export", str(copy), "--out", str(out), "--quantize", "int8"]) == 2
    assert "truncated or corrupt" in _one_line_error(capsys)
    assert not out.exists() and not (tmp_path / "exports").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.slow
def test_ctrl_c_during_export_leaves_nothing_behind(run_dir, tmp_path, monkeypatch, capsys):
    """Ctrl-C while the bundle is half built (raised where it lands on a slow machine: while the
    first member's latency is measured) removes the partial bundle; the CLI says so, exit 130."""
    import evonas.engine.export as export

    seen = []

    def interrupted(*args, **kwargs):
        seen.extend(tmp_path.glob(".bundle.partial-*"))
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "_latencies", interrupted)
    assert main(["export", str(run_dir), "--out", str(tmp_path / "bundle"), "--quantize", "int8"]) == 130
    assert "interrupted: nothing was written" in capsys.readouterr().err
    assert seen and list(tmp_path.iterdir()) == []


def test_a_dataset_keeps_its_normalisation_constants(tmp_path):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(40, 6, 5, 3), dtype=np.uint8)  # channels last
    np.savez(tmp_path / "rgb.npz", x=raw, y=np.arange(40) % 4)
    data = load_npz(tmp_path / "rgb.npz")
    norm = data.normalisation
    first = raw.transpose(0, 3, 1, 2)
    assert norm.raw_range == (0.0, 255.0) and norm.raw_dtype == "uint8" and len(norm.mean) == 3
    assert np.allclose(norm.mean, first.mean(axis=(0, 2, 3))) and np.allclose(norm.std, first.std(axis=(0, 2, 3)))
    assert np.abs(norm.apply(first) - data.x).max() < 1e-5
    assert data.class_names == ("0", "1", "2", "3")
    train, val = data.split(0.25, seed=1)
    assert train.normalisation == val.normalisation == norm


@pytest.mark.slow
def test_an_export_reads_the_run_database_once(run_dir, tmp_path, capsys, monkeypatch):
    from test_stored_run import count_connections

    cid = _front(run_dir, capsys)[0]["id"]
    opened = count_connections(monkeypatch)
    assert main(["export", str(run_dir), "--out", str(tmp_path / "one"), "--select", str(cid)]) == 0
    assert opened == [run_dir / "run.db"]
