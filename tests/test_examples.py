"""Every script in examples/ runs end to end on a tiny budget, and the CLI takes the example's custom objective.

Each example runs in a subprocess, as a user would run it; its output, run store (read
back through ``evonas front/history --format json``) and exported manifest are checked.
Torch is limited to one thread: on a shared 2-core machine oversubscribed threads make
tiny trainings several times slower.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SKIP = {"remote_target.py"}  # needs its own usage (a target plug-in, see its docstring)
ENV = {**os.environ, "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
TINY = ["--evaluations", "3", "--epochs", "0.2"]
ARGS = {  # the tiny budget of each example (every example must be listed)
    "custom_objective.py": TINY,
    "constraint.py": TINY,
    "custom_space.py": ["--evaluations", "6", "--epochs", "5"],
    "ask_tell.py": ["--evaluations", "4", "--epochs", "0.2"],
}


def run(args: list[str], cwd: Path = ROOT, timeout: float = 240) -> str:
    proc = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def example(name: str, out: Path, *extra: str) -> str:
    return run([sys.executable, str(EXAMPLES / name), *ARGS[name], "--out", str(out), *extra])


def cli_json(*args: str) -> list[dict]:
    return json.loads(run([sys.executable, "-m", "evonas", *args, "--format", "json"]))


def test_every_example_is_covered():
    scripts = {p.name for p in EXAMPLES.glob("*.py")} - SKIP
    assert scripts == set(ARGS), "give every new example a tiny budget in ARGS (and a check below)"
    for name in scripts:
        text = (EXAMPLES / name).read_text()
        assert text.lstrip().startswith('"""') and "def main(" in text and "--out" in text, name
        imports = [line for line in text.splitlines() if line.lstrip().startswith(("import evonas", "from evonas"))]
        assert all(line.strip() == "import evonas" or line.strip().startswith("from evonas import ")
                   for line in imports), (name, imports)  # only the public API


@pytest.mark.slow
def test_custom_objective(tmp_path):
    out = tmp_path / "run"
    stdout = example("custom_objective.py", out)
    assert "size_mb" in stdout and "energy_mj" in stdout
    front = cli_json("front", str(out))
    assert front
    for row in front:
        assert {"accuracy", "latency_ms", "size_mb", "energy_mj"} <= set(row["objectives"])
        assert row["objectives"]["size_mb"] <= 0.5  # the example's constraint
        assert row["objectives"]["size_mb"] == pytest.approx(row["metrics"]["params"] * 4 / 1e6)
        assert 0 < row["objectives"]["energy_mj"] < 1
    manifest = json.loads((out / "onnx" / "manifest.json").read_text())
    assert len(manifest["models"]) == len(front)
    for model in manifest["models"]:
        assert (out / "onnx" / model["file"]).is_file()
        assert {"size_mb", "energy_mj"} <= set(model["objectives"])


@pytest.mark.slow
def test_cli_custom_objective_from_the_example(tmp_path):
    out, exported = tmp_path / "run", tmp_path / "onnx"
    run([sys.executable, "-m", "evonas", "search", "--objectives", "accuracy",
         "--custom-objective", "size_mb=custom_objective:size_mb:min:free", "--constraint", "size_mb<=0.5",
         *TINY, "--out", str(out), "--no-progress"], cwd=EXAMPLES)
    front, history = cli_json("front", str(out)), cli_json("history", str(out))
    assert front and all("size_mb" in row["objectives"] for row in front)
    assert len(history) == 3 and all("size_mb" in row["metrics"] for row in history)
    run([sys.executable, "-m", "evonas", "export", str(out), "--out", str(exported), "--select", str(front[0]["id"])])
    manifest = json.loads((exported / "manifest.json").read_text())
    assert [m["objectives"]["size_mb"] for m in manifest["models"]] == [front[0]["objectives"]["size_mb"]]


@pytest.mark.slow
def test_constraint(tmp_path):
    out = tmp_path / "run"
    stdout = example("constraint.py", out, "--max-params", "150000")
    assert "rejected before the search: constraint params<=10 cannot be met" in stdout.replace(" <= ", "<=")
    history = cli_json("history", str(out))
    assert len(history) == 3  # only the feasible study ran
    front = cli_json("front", str(out))
    assert front and all(row["metrics"]["params"] <= 150000 for row in front)
    assert all(row["violation"] > 0 for row in history if row["metrics"]["params"] > 150000)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["aging", "de"])  # sample/mutate, and encode/decode
def test_custom_space(tmp_path, strategy):
    out = tmp_path / "run"
    stdout = example("custom_space.py", out, "--strategy", strategy)
    assert "Pareto front" in stdout
    history = cli_json("history", str(out))
    assert len(history) == 6 and all(row["status"] == "ok" for row in history)
    assert all(0 <= row["objectives"]["accuracy"] <= 1 and row["objectives"]["params"] > 0 for row in history)


@pytest.mark.slow
def test_ask_tell(tmp_path):
    out = tmp_path / "run"
    stdout = example("ask_tell.py", out)
    assert "FAILED" in stdout
    history = cli_json("history", str(out))
    assert [row["id"] for row in history] == [0, 1, 2, 3]
    failed = [row for row in history if row["status"] == "failed"]
    ok = [row for row in history if row["status"] == "ok"]
    assert ok and all({"accuracy", "params"} <= set(row["objectives"]) for row in ok)
    assert history[1]["status"] == "failed" and "simulated crash" in history[1]["error"]  # --crash-at 1
    assert all(row["error"].startswith("refused") for row in failed if row["id"] != 1)
    assert all(row["objectives"]["params"] <= 150_000 for row in ok)  # bigger ones are refused
    assert cli_json("front", str(out))
