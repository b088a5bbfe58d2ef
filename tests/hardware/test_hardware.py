"""Targets, the measurement protocol, peak memory, fingerprints and the user-target plug-in."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import psutil
import pytest
import torch

from evonas.mobilenet.builder import build
from evonas.core.errors import UserError
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from hardware.external import CallableTarget
from hardware.fingerprint import differences, environment_fingerprint
from hardware.layers import onnx_for_timing
from hardware.registry import TARGETS, get_target
from hardware.targets import OnnxRuntimeCPU, TimingProtocol, TorchCPU, pinned, summarize

ROOT = Path(__file__).resolve().parents[2]
FAST = TimingProtocol(warmup_min=5, warmup_max=20, repeats_min=10, min_seconds=0.0)
SHAPE = (3, 16, 16)
HAS_CUDA = torch.cuda.is_available()


def small_model(shape=SHAPE, seed: int = 0) -> torch.nn.Module:
    config = SpaceConfig.for_resolution(min(shape[1:]))
    genome = MobileNetSpace(config).sample(np.random.default_rng(seed))
    return build(genome, config, shape, 10, torch.Generator().manual_seed(0)).eval()


def fast(target):
    """``target`` with the short protocol, and a short calibration where it compensates drift
    (calibrate() still times its 10 warm-up and 20 blocks of 5 reference runs)."""
    target.protocol = FAST
    if target.compensation is not None:
        target.compensation = replace(target.compensation, calibration_seconds=0.1)
    return target


def test_edge_cpu_definition_one_pinned_sequential_thread():
    t = get_target("edge-cpu")
    s = t.settings()
    assert (s["threads"], s["pin_core"], s["provider"], s["batch"]) == (1, "auto", "CPUExecutionProvider", 1)
    assert s["raise_priority"] is True
    options = t.session(onnx_for_timing(small_model(), SHAPE)).get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert t.session(onnx_for_timing(small_model(), SHAPE)).get_providers() == ["CPUExecutionProvider"]


def test_onnx_cpu_and_cpu_definitions():
    onnx_cpu, cpu = get_target("onnx-cpu"), get_target("cpu")
    assert isinstance(onnx_cpu, OnnxRuntimeCPU) and onnx_cpu.threads == 0 and onnx_cpu.pin_core is None
    assert "all cores" in onnx_cpu.description
    assert isinstance(cpu, TorchCPU) and cpu.settings()["threads"] == torch.get_num_threads()
    assert set(TARGETS) >= {"edge-cpu", "onnx-cpu", "cpu", "gpu", "onnx-gpu"}


def test_unknown_target_and_bad_user_target_are_user_errors():
    with pytest.raises(UserError, match="unknown target"):
        get_target("tpu")
    with pytest.raises(UserError, match="cannot load target"):
        get_target("no_such_module_xyz:make")


@pytest.mark.skipif(not hasattr(psutil.Process(), "cpu_affinity"), reason="the OS does not expose CPU affinity")
def test_pinning_restricts_to_one_core_and_restores():
    before = psutil.Process().cpu_affinity()
    for core in (0, "auto"):
        with pinned(core):
            assert len(psutil.Process().cpu_affinity()) == 1
        assert psutil.Process().cpu_affinity() == before


@pytest.mark.parametrize("name", ["edge-cpu", "onnx-cpu", "cpu"])
def test_protocol_on_a_real_model(name):
    m = fast(get_target(name)).measure(small_model(), SHAPE)
    assert m.median_ms > 0 and m.iqr_ms >= 0
    assert m.repeats + m.outliers >= FAST.repeats_min and m.warmup >= FAST.warmup_min


def test_outliers_above_q3_plus_3_iqr_are_dropped():
    samples = np.array([1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98, 50.0])
    m = summarize(samples, TimingProtocol(), warmup=0)
    assert m.outliers == 1 and m.repeats == 8 and m.median_ms == pytest.approx(1.0, abs=0.03)


@pytest.mark.slow  # the peak-memory probe is a process
def test_peak_memory_is_measured_and_grows_with_the_input():
    target = fast(get_target("edge-cpu"))
    small = target.profile(small_model((3, 16, 16)), (3, 16, 16))
    large = target.profile(small_model((3, 160, 160)), (3, 160, 160))
    assert small.peak_memory_mb > 0 and small.latency.median_ms > 0
    assert large.peak_memory_mb > small.peak_memory_mb


def test_fingerprint_records_machine_libraries_and_target():
    fp = environment_fingerprint(get_target("edge-cpu").settings())
    assert fp["cpu_model"] and fp["logical_cores"] >= 1
    assert fp["onnxruntime"] == ort.__version__ and fp["torch"] == torch.__version__
    assert fp["target"]["threads"] == 1
    json.dumps(fp)  # stored in the run database as JSON
    other = {**fp, "cpu_model": "Some Other CPU", "onnxruntime": "0.0.1"}
    assert [d.split()[0] for d in differences(other, fp)] == ["cpu_model", "onnxruntime"]
    assert differences({**fp, "target": {**fp["target"], "threads": 4}}, fp)[0].startswith("target.threads 4")


@pytest.mark.skipif(HAS_CUDA, reason="a CUDA GPU is present: the no-GPU error does not apply")
def test_gpu_without_cuda_is_a_clear_user_error():
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        get_target("gpu")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(UserError, match="CUDAExecutionProvider"):
            get_target("onnx-gpu")


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU on this machine: the gpu target cannot be exercised")
def test_gpu_measures_with_cuda_events():
    target = fast(get_target("gpu"))
    prof = target.profile(small_model((3, 64, 64)), (3, 64, 64))
    assert prof.latency.median_ms > 0 and prof.peak_memory_mb > 0
    assert target.settings()["device"]


def test_callable_target_summarises_per_run_timings():
    seen = []

    def board(path: Path) -> list[float]:
        seen.append(path.read_bytes()[:2])
        return [2.0, 2.2, 1.8, 2.1, 1.9, 30.0]

    m = CallableTarget(board, name="board").measure(small_model(), SHAPE)
    assert seen and m.outliers == 1 and m.median_ms == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive finite"):
        CallableTarget(lambda p: -1.0).measure(small_model(), SHAPE)


@pytest.mark.slow
def test_remote_target_example_runs_for_real():
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "remote_target.py"), "--random", "1",
                           "--input-shape", "3,16,16"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["target"] == "remote-example" and row["latency_ms"]["median"] > 0 and row["params"] > 0


def test_remote_target_example_plugs_into_get_target(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    target = get_target("remote_target:RemoteOnnxTarget")
    target.runs = 5
    assert target.measure(small_model(), SHAPE).median_ms > 0
