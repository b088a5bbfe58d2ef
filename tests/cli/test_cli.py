"""The CLI end to end on a tiny budget: search, front, history, export, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import evonas
from evonas.cli import main
from evonas.engine.store import RunStore
from conftest import shared_data

TINY = ["--strategy", "aging", "--evaluations", "4", "--epochs", "0.5", "--population", "2", "--sample-size", "2",
        "--no-progress"]
QUICK_TIMING = ["--compensate", "false", "--warmup-min", "2", "--warmup-max", "6", "--repeats-min", "5",
                "--min-seconds", "0"]
"""A short plain latency timing, where a test checks the CLI, not the timing (tests/test_drift.py
checks compensation; on a busy machine it measures each latency again, up to three times)."""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["search", "--target", "edge-cpu", "--seed", "3", "--out", str(out), *TINY, *QUICK_TIMING]) == 0
    return out


@pytest.mark.slow
def test_search_records_every_candidate(run_dir, capsys):
    assert (run_dir / "run.db").is_file()
    assert main(["history", str(run_dir), "--format", "json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [h["id"] for h in history] == [0, 1, 2, 3]
    for h in history:
        assert {"id", "genome", "parent_id", "operator", "status", "fidelity", "objectives"} <= h.keys()
        assert h["status"] == "ok" and h["fidelity"] == 0.5
        assert set(h["objectives"]) == {"accuracy", "latency_ms"}
        assert 0 <= h["objectives"]["accuracy"] <= 1 and h["objectives"]["latency_ms"] > 0
    children = [h for h in history if h["parent_id"] is not None]
    assert children and all(h["operator"].startswith("mutate_") for h in children)


@pytest.mark.slow
def test_front_is_non_dominated(run_dir, capsys):
    assert main(["front", str(run_dir), "--format", "json"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert front
    pts = [(f["objectives"]["accuracy"], f["objectives"]["latency_ms"]) for f in front]
    for a in pts:
        assert not any(b != a and b[0] >= a[0] and b[1] <= a[1] for b in pts)
    assert main(["front", str(run_dir)]) == 0
    assert "Pareto front" in capsys.readouterr().out


@pytest.mark.slow
def test_export_matches_front_and_runs_in_onnxruntime(run_dir, tmp_path, capsys):
    main(["front", str(run_dir), "--format", "json"])
    front = json.loads(capsys.readouterr().out)
    out = tmp_path / "export"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["candidate_id"] for m in manifest["models"]] == [f["id"] for f in front]
    assert [m["genome"] for m in manifest["models"]] == [f["genome"] for f in front]
    assert [m["objectives"] for m in manifest["models"]] == [f["objectives"] for f in front]
    for m in manifest["models"]:
        path = out / m["file"]
        onnx.checker.check_model(onnx.load(path), full_check=True)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        y = sess.run(None, {"input": np.zeros((1, *manifest["input_shape"]), np.float32)})[0]
        assert y.shape == (1, 10) and m["max_abs_diff"] <= 1e-4
    # a second export into the same directory is refused, nothing overwritten
    before = (out / "manifest.json").read_bytes()
    assert main(["export", str(run_dir), "--out", str(out)]) == 2
    assert (out / "manifest.json").read_bytes() == before


@pytest.mark.slow
def test_search_is_repeatable_under_a_seed(tmp_path, capsys):
    """With a deterministic cost (FLOPs) the whole trajectory repeats under a seed.

    (With measured latency, timing noise can change tournament outcomes, so only the
    accuracies of identical genomes are guaranteed to repeat.)
    """
    histories = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["search", "--objectives", "accuracy,flops", "--seed", "5", "--out", str(out), *TINY]) == 0
        capsys.readouterr()
        main(["history", str(out), "--format", "json"])
        histories.append(json.loads(capsys.readouterr().out))
    first, second = histories
    assert [h["genome"] for h in first] == [h["genome"] for h in second]
    assert [h["objectives"] for h in first] == [h["objectives"] for h in second]
    assert [h["parent_id"] for h in first] == [h["parent_id"] for h in second]


def _bad_npz(tmp_path: Path) -> Path:
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros(50), y=np.zeros(50, dtype=np.int64))
    return path


BAD_INPUTS = {
    "unknown target": (["--target", "tpu-v9"], "unknown target 'tpu-v9'"),
    "unknown strategy": (["--strategy", "annealing"], "unknown strategy 'annealing'"),
    "malformed genome": (["--init", "stem16|c24_re"], "malformed genome"),
    "missing data": (["--data", "/nonexistent/mnist"], "/nonexistent/mnist"),
    "wrong-shape data": (["--data", "BAD_NPZ"], "bad.npz"),
    "bad constraint": (["--constraint", "latency<3"], "malformed constraint"),
    "unknown objective": (["--objectives", "accuracy,latncy_ms"], "unknown objective 'latncy_ms'"),
    "one objective": (["--objectives", "accuracy"], "at least 2 objectives"),
    "constraint on unknown metric": (["--constraint", "sizee_mb<=3"], "unknown metric 'sizee_mb'"),
    "impossible bound": (["--constraint", "params<=10"], "params <= 10 cannot be met"),
    "malformed custom objective": (["--custom-objective", "size=nomodule"], "malformed --custom-objective"),
    "missing custom module": (["--custom-objective", "size=no_such_mod:f:min"], "cannot import no_such_mod:f"),
    "option of another strategy": (["--n-pc", "3"], "unrecognized arguments: --n-pc"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_line_exit_2_nothing_written(case, tmp_path, capsys):
    flags, expected = BAD_INPUTS[case]
    flags = [str(_bad_npz(tmp_path)) if f == "BAD_NPZ" else f for f in flags]
    out = tmp_path / "run"
    assert main(["search", "--out", str(out), *flags, *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and expected in err
    assert not out.exists()


@pytest.mark.slow
def test_three_objectives_front_history_and_export(tmp_path, capsys):
    """k = 3 through the CLI: every view and the export manifest carry all three objectives."""
    out, onnx_dir = tmp_path / "run", tmp_path / "onnx"
    assert main(["search", "--objectives", "accuracy,latency_ms,params", "--seed", "1", "--out", str(out), *TINY,
                 *QUICK_TIMING]) == 0
    capsys.readouterr()
    names = ["accuracy", "latency_ms", "params"]
    assert main(["front", str(out), "--format", "json"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert front and all(list(f["objectives"]) == names for f in front)
    pts = np.array([[-f["objectives"]["accuracy"], f["objectives"]["latency_ms"], f["objectives"]["params"]]
                    for f in front])
    for a in pts:
        assert not any(np.all(b <= a) and np.any(b < a) for b in pts)
    assert main(["history", str(out), "--format", "json"]) == 0
    assert all(set(names) <= set(h["objectives"]) for h in json.loads(capsys.readouterr().out))
    assert main(["front", str(out)]) == 0
    assert "params" in capsys.readouterr().out.splitlines()[1]
    # one member: exporting the whole front is tested in test_export_matches_front_and_runs_in_onnxruntime
    assert main(["export", str(out), "--out", str(onnx_dir), "--select", str(front[-1]["id"])]) == 0
    manifest = json.loads((onnx_dir / "manifest.json").read_text())
    assert [(m["candidate_id"], list(m["objectives"])) for m in manifest["models"]] == [(front[-1]["id"], names)]


@pytest.mark.slow
def test_target_options_reach_the_target_and_the_store(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--target", "edge-cpu", "--min-seconds", "0.3", "--pin-core", "none",
                 "--compensate", "false", "--out", str(out), *TINY]) == 0
    with RunStore.open(out) as store:
        target = store.config["problem"]["targets"][0]
        assert target["protocol"]["min_seconds"] == 0.3 and target["pin_core"] is None
        assert target["compensation"] is None
        assert store.config["search"]["target_options"] == {"min_seconds": 0.3, "pin_core": "none",
                                                            "compensate": False}
    capsys.readouterr()
    assert main(["search", "--target", "edge-cpu", "--threads", "2", "--out", str(tmp_path / "r2"), *TINY]) == 2
    assert "unrecognized arguments: --threads" in capsys.readouterr().err


def test_search_help_lists_the_chosen_plugins_options(capsys):
    assert main(["search", "--strategy", "lemonade", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--n-pc" in text and "--inherit-epochs" in text and "--sample-size" not in text
    assert main(["search", "--space", "nb201", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--cost-column" in text and "--n-mutants" in text and "--epochs" not in text  # spls, nb201's default


def test_each_space_has_a_default_strategy_named_in_its_stored_config(capsys):
    from evonas.api import registry
    from evonas.api.spec import RunSpec, search_args

    assert set(registry.DEFAULT_STRATEGIES) == set(registry.PROBLEMS)
    assert RunSpec().strategy == "lemonade" and RunSpec(space="nb201").strategy == "spls"
    assert RunSpec.from_dict(RunSpec().to_dict()).to_dict()["strategy"] == "lemonade"
    assert search_args(RunSpec(space="nb201")) == ["--space", "nb201"]
    assert main(["search", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help to the terminal's width
    assert "--n-pc" in text and "--population" not in text and "lemonade on mobilenet" in text


@pytest.mark.slow
def test_output_dir_holding_a_run_is_refused_and_untouched(run_dir, capsys):
    before = (run_dir / "run.db").read_bytes()
    assert main(["search", "--out", str(run_dir), *TINY]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err
    assert (run_dir / "run.db").read_bytes() == before


@pytest.mark.slow  # starts a Python process (imports torch)
def test_console_script_reports_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "evonas", "search", "--target", "nope", "--out",
                           str(tmp_path / "r")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: unknown target 'nope'; choose one of: "
                                                + proc.stderr.split("choose one of: ")[1].strip()]
    assert "Traceback" not in proc.stderr


def test_not_a_run_directory(tmp_path, capsys):
    assert main(["front", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_version_is_the_installed_metadata_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"evonas {metadata.version('evonas')}\n"
    assert evonas.__version__ == metadata.version("evonas")


def test_a_resumed_run_records_each_version_that_wrote_it(tmp_path, capsys):
    out, table = tmp_path / "run", shared_data("nb201") / "nb201_table.csv"
    assert main(["search", "--space", "nb201", "--table", str(table), "--evaluations", "3", "--out", str(out),
                 "--no-progress"]) == 0
    assert main(["search", "--resume", str(out), "--evaluations", "5", "--no-progress"]) == 0
    with RunStore.open(out) as store:
        versions = store.versions()
        assert len(store.candidates()) == 5
    assert [(v["version"], v["event"]) for v in versions] == [(metadata.version("evonas"), "created"),
                                                              (metadata.version("evonas"), "resumed")]


@pytest.mark.slow
def test_asha_from_the_command_line_through_history_front_report_and_export(tmp_path, capsys):
    """--schedule asha end to end: rungs in the history, the front at the top fidelity, and the report
    and the export manifest saying so."""
    out, onnx_dir = tmp_path / "run", tmp_path / "onnx"
    assert main(["search", "--schedule", "asha", "--min-epochs", "0.25", "--max-epochs", "0.75", "--eta", "3",
                 "--objectives", "accuracy,params", "--evaluations", "9", "--seed", "2", "--out", str(out),
                 "--no-progress"]) == 0
    assert "at fidelity 0.75, the highest reached" in capsys.readouterr().out
    assert main(["history", str(out)]) == 0
    rungs = capsys.readouterr().out.splitlines()[-2]
    assert rungs.startswith("rungs (asha") and "at 0.25" in rungs and "at 0.75" in rungs
    assert main(["front", str(out), "--format", "json"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert front and all(f["fidelity"] == 0.75 and f["operator"] == "promote" for f in front)
    assert main(["report", str(out)]) == 0
    assert "fidelity 0.75, the highest reached" in (out / "report" / "report.html").read_text()
    assert main(["export", str(out), "--out", str(onnx_dir), "--select", str(front[0]["id"])]) == 0
    assert json.loads((onnx_dir / "manifest.json").read_text())["front_fidelity"] == 0.75
