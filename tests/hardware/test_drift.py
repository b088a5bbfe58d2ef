"""Drift-compensated timing, calibration, contention detection and honest GPU targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import psutil
import pytest
import torch

from evonas.core.errors import UserError
from evonas.mobilenet.builder import build
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from hardware import drift
from hardware.drift import Calibration, CalibrationFile, Compensation, Conditions, Estimate
from hardware.gpu import OnnxRuntimeCUDA, require_cuda_session
from hardware.objectives import LatencySource
from hardware.layers import onnx_for_timing
from hardware.registry import get_target
from hardware.targets import LatencyMeasurement, TimingProtocol, pinned, time_compensated, time_runs

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (3, 16, 16)
COUNTED = TimingProtocol(warmup_min=5, warmup_max=20, repeats_min=400, min_seconds=0.0, repeats_max=400)
QUICK_CALIBRATION = 0.1  # seconds; calibrate() still times its 10 warm-up and 20 blocks of 5 reference runs


class DriftingClock:
    """A synthetic machine: each network has a true cost (ms); the machine's speed changes with time.

    ``clock(run)`` returns the seconds ``run`` "takes": its cost times the machine's current
    slowdown, times a little multiplicative noise. The slowdown steps between 1.0 and 1.45
    every ``period`` calls, as the drifting machines this guards against do.
    """

    def __init__(self, costs: dict, period: int = 50, slow: float = 1.45, noise: float = 0.02, seed: int = 0):
        self.costs, self.period, self.slow, self.noise = costs, period, slow, noise
        self.calls, self.rng = 0, np.random.default_rng(seed)

    def slowdown(self) -> float:
        return self.slow if (self.calls // self.period) % 2 else 1.0

    def __call__(self, run) -> float:
        seconds = self.costs[run] * self.slowdown() * np.exp(self.rng.normal(0, self.noise)) / 1e3
        self.calls += 1
        return seconds


def candidate():  # the callables only identify the networks; the clock decides their time
    pass


def reference():
    pass


def test_compensation_recovers_the_true_latency_on_a_drifting_timer():
    clock = DriftingClock({candidate: 2.0, reference: 5.0})
    calibration = Calibration("k", "ref", 5.0, "now")  # the reference's latency at full speed
    # the clock is synthetic but the load probe reads the real machine: other processes (a Ray
    # worker still exiting after an earlier test) must not add a contention re-measurement here
    quiet = Compensation(max_other_load=1.0, max_steal=1.0)
    m = time_compensated([candidate], reference, calibration, quiet, COUNTED, clock)[0]
    assert m.median_ms == pytest.approx(2.0, rel=0.01)
    assert m.raw_median_ms > 2.0 * 1.05  # uncompensated, half the runs were slowed down by 45%
    assert m.reference["drift"] > 0.3 and m.reference["calibrated_ms"] == 5.0
    assert [f.split(":")[0] for f in m.flags] == ["drift"]  # compensated, yet reported as seen
    assert m.conditions["attempts"] == 1  # drift is compensated, not a reason to measure again
    assert m.low_ms < m.median_ms < m.high_ms


def test_plain_timing_on_the_same_drifting_timer_depends_on_when_it_ran():
    quiet = DriftingClock({candidate: 2.0}, period=10 ** 6)
    slow = DriftingClock({candidate: 2.0}, period=10 ** 6)
    slow.calls = 10 ** 6  # in the slow phase throughout
    ratio = time_runs(candidate, COUNTED, slow).median_ms / time_runs(candidate, COUNTED, quiet).median_ms
    assert ratio == pytest.approx(1.45, rel=0.02)


def test_compensated_latencies_agree_across_drift_phases():
    """Two measurements taken while the machine is in different states agree; raw ones do not."""
    calibration = Calibration("k", "ref", 5.0, "now")
    quiet = DriftingClock({candidate: 3.0, reference: 5.0}, period=10 ** 6, seed=1)
    slow = DriftingClock({candidate: 3.0, reference: 5.0}, period=10 ** 6, seed=2)
    slow.calls = 10 ** 6  # in the slow phase throughout
    a = time_compensated([candidate], reference, calibration, Compensation(), COUNTED, quiet)[0]
    b = time_compensated([candidate], reference, calibration, Compensation(), COUNTED, slow)[0]
    assert abs(a.median_ms - b.median_ms) / a.median_ms < 0.01
    assert b.raw_median_ms / a.raw_median_ms == pytest.approx(1.45, rel=0.02)
    assert b.reference["level"] == pytest.approx(0.45, abs=0.02)


def other():
    pass


def test_side_by_side_measurement_ranks_two_close_networks_through_drift():
    """3% apart, on a machine whose speed moves by 45%: measured together, the order is right."""
    clock = DriftingClock({candidate: 3.0, other: 3.09, reference: 5.0}, period=13)
    calibration = Calibration("k", "ref", 5.0, "now")
    a, b = time_compensated([candidate, other], reference, calibration, Compensation(), COUNTED, clock)
    assert a.median_ms == pytest.approx(3.0, rel=0.01) and b.median_ms == pytest.approx(3.09, rel=0.01)
    assert a.repeats == b.repeats == COUNTED.repeats_min


def test_estimate_precision_shrinks_with_more_pairs():
    rng = np.random.default_rng(0)
    few, many = (rng.lognormal(0, 0.05, n) * 2e-3 for n in (20, 2000))
    ref_few, ref_many = np.full(20, 4e-3), np.full(2000, 4e-3)
    assert drift.estimate(many, ref_many, 4.0).precision < drift.estimate(few, ref_few, 4.0).precision / 4


def _estimate(precision=0.01, ref_drift=0.02) -> Estimate:
    return Estimate(1.0, 0.9, 1.1, precision, 1.0, 0.1, 4.0, ref_drift, 100)


def test_flags_name_each_kind_of_untrustworthy_measurement():
    comp = Compensation()
    quiet = Conditions(other_load=0.01, steal=0.0, cores=(0,))
    assert drift.flags(_estimate(), quiet, comp) == ()
    kinds = lambda est, cond: [f.split(":")[0] for f in drift.flags(est, cond, comp)]
    assert kinds(_estimate(precision=0.05), quiet) == ["imprecise"]
    assert kinds(_estimate(ref_drift=0.3), quiet) == ["drift"]
    assert kinds(_estimate(), Conditions(0.5, 0.0, (1,))) == ["contention"]
    assert kinds(_estimate(), Conditions(0.0, 0.2, (0, 1))) == ["steal"]


def _spin(seconds: float = 0.0005):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


HOG = """
import os, sys, time
os.sched_setaffinity(0, {%d})
print("ready", flush=True)
end = time.perf_counter() + %f
while time.perf_counter() < end:
    pass
"""


@pytest.mark.slow
@pytest.mark.alone  # reads the machine's load: no other test may run meanwhile (pytest-xdist)
@pytest.mark.skipif(not hasattr(psutil.Process(), "cpu_affinity"), reason="the OS does not expose CPU affinity")
def test_load_probe_sees_another_process_on_the_timing_core():
    core = psutil.Process().cpu_affinity()[0]

    def spin_and_probe() -> Conditions:
        with pinned(0), drift.LoadProbe() as probe:
            _spin(1.0)
        return probe.conditions

    alone = spin_and_probe()
    hog = subprocess.Popen([sys.executable, "-c", HOG % (core, 3.0)], stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout.readline().strip() == "ready"  # spinning on the core from now on
        shared = spin_and_probe()
    finally:
        hog.wait(timeout=30)
    assert shared.cores == (core,)
    assert shared.other_load > 0.25 and shared.other_load > alone.other_load + 0.2
    assert "contention" in drift.flags(_estimate(), shared, Compensation())[0]


@pytest.mark.slow
@pytest.mark.alone  # reads the machine's load: no other test may run meanwhile (pytest-xdist)
@pytest.mark.skipif(not hasattr(psutil.Process(), "cpu_affinity"), reason="the OS does not expose CPU affinity")
def test_a_measurement_on_a_contended_core_is_taken_again_then_flagged():
    core = psutil.Process().cpu_affinity()[0]
    hog = subprocess.Popen([sys.executable, "-c", HOG % (core, 30.0)], stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout.readline().strip() == "ready"
        with pinned(0):  # the first allowed core: the hog's
            m = time_compensated([_spin], _spin, Calibration("k", "ref", 0.5, "now"), Compensation(),
                                 TimingProtocol(warmup_min=5, repeats_min=300, min_seconds=0.0, repeats_max=300))[0]
    finally:
        hog.kill()
        hog.wait()
    assert m.conditions["attempts"] == Compensation().attempts and m.conditions["other_load"] > 0.2
    assert any(f.startswith("contention") for f in m.flags)


def test_calibration_is_measured_once_and_shared_through_the_file(tmp_path):
    path = tmp_path / "cal.json"
    calls = []
    first = CalibrationFile(path).get_or_measure("key1", "ref", lambda: calls.append(1) or 4.2)
    again = CalibrationFile(path).get_or_measure("key1", "ref", lambda: calls.append(1) or 9.9)
    other = CalibrationFile(path).get_or_measure("key2", "ref", lambda: 7.0)
    assert first == again and first.median_ms == 4.2 and calls == [1] and other.median_ms == 7.0
    assert CalibrationFile(path).forget("key1") and not CalibrationFile(path).forget("key1")
    assert CalibrationFile(path).get_or_measure("key1", "ref", lambda: 5.0).median_ms == 5.0


@pytest.mark.parametrize("content", ["", "{not json", json.dumps({"format": "something-else"})])
def test_a_corrupt_calibration_file_is_a_clear_error_and_left_alone(tmp_path, content):
    path = tmp_path / "cal.json"
    path.write_text(content)
    with pytest.raises(UserError, match="calibration"):
        CalibrationFile(path).get_or_measure("k", "ref", lambda: 1.0)
    assert path.read_text() == content


def test_calibration_key_follows_the_machine_and_target_not_the_protocol():
    from hardware.fingerprint import environment_fingerprint

    edge = get_target("edge-cpu")
    fp = environment_fingerprint(edge.settings())
    key = drift.calibration_key(fp, "ref")
    assert drift.calibration_key({**fp, "target": {**fp["target"], "protocol": {"x": 1}}}, "ref") == key
    assert drift.calibration_key({**fp, "target": {**fp["target"], "compensation": None}}, "ref") == key
    assert drift.calibration_key({**fp, "cpu_model": "other"}, "ref") != key
    assert drift.calibration_key({**fp, "target": {**fp["target"], "threads": 4}}, "ref") != key
    assert drift.calibration_key(fp, "another reference") != key


def _model(shape=SHAPE, seed=0):
    config = SpaceConfig.for_resolution(min(shape[1:]))
    genome = MobileNetSpace(config).sample(np.random.default_rng(seed))
    return build(genome, config, shape, 10, torch.Generator().manual_seed(0)).eval()


def _cpu_target(name: str, repeats: int, calibration_file: Path, **options):
    """CPU target ``name`` with a short protocol and a short calibration, calibrated into ``calibration_file``."""
    target = get_target(name, protocol=TimingProtocol(repeats_min=repeats, min_seconds=0.0), **options)
    target.compensation = replace(target.compensation, calibration_seconds=QUICK_CALIBRATION)
    target.calibration_file = str(calibration_file)
    return target


@pytest.mark.parametrize("name", ["edge-cpu", "onnx-cpu", "cpu"])
def test_cpu_targets_compensate_on_a_real_model_and_record_how(name, tmp_path):
    target = _cpu_target(name, 30, tmp_path / "cal.json")
    m = target.measure(_model(), SHAPE)
    assert m.median_ms > 0 and m.raw_median_ms > 0 and m.repeats >= 30
    assert m.reference["network"] == drift.reference_name(SHAPE) and m.reference["calibrated_ms"] > 0
    assert set(m.conditions) >= {"other_load", "steal", "cores", "precision", "attempts"}
    stored = json.loads(Path(target.calibration_file).read_text())["calibrations"]
    assert [c["median_ms"] for c in stored.values()] == [m.reference["calibrated_ms"]]
    assert LatencyMeasurement.from_dict(json.loads(json.dumps(m.as_dict()))) == m


def test_a_calibration_taken_on_a_loaded_machine_is_measured_again(tmp_path):
    """A stored calibration 20x too slow (as one taken while other processes hogged the cores)
    is detected by the reference running far faster than it, replaced, and not used."""
    target = _cpu_target("onnx-cpu", 30, tmp_path / "cal.json")
    model = _model()
    target.measure(model, SHAPE)  # writes the honest calibration
    path = Path(target.calibration_file)
    data = json.loads(path.read_text())
    (key, entry), = data["calibrations"].items()
    entry["median_ms"] *= 20
    path.write_text(json.dumps(data))

    fresh = _cpu_target("onnx-cpu", 30, path)
    m = fresh.measure(model, SHAPE)
    # timing-free checks: the stale value is neither kept on disk nor the one the latency was scaled by
    # (comparing latencies here would flake whenever CI's other processes load the cores)
    stored = json.loads(path.read_text())["calibrations"][key]
    assert stored["median_ms"] == m.reference["calibrated_ms"] != entry["median_ms"]
    assert stored["created"] >= entry["created"]
    assert m.reference["calibrated_ms"] < entry["median_ms"] / 2


def test_a_target_without_compensation_times_plainly():
    m = get_target("edge-cpu", compensate=False, protocol=TimingProtocol(repeats_min=10, min_seconds=0.0)).measure(
        _model(), SHAPE)
    assert m.reference is None and m.raw_median_ms == m.median_ms
    with pytest.raises(UserError, match="precision"):
        get_target("edge-cpu", precision=2.0)


def test_a_stored_compensated_latency_is_reused_whole(tmp_path):
    target = _cpu_target("edge-cpu", 20, tmp_path / "cal.json")
    source = LatencySource(target)
    model, genome = _model(), "g"
    from evonas.core.objectives import MetricContext

    context = MetricContext(input_shape=SHAPE, num_classes=10)
    first = source(model, genome, context)
    record = json.loads(json.dumps(source.measurement(genome, SHAPE)))
    again = LatencySource(target)
    again.reuse(genome, record, SHAPE)
    assert again(model, genome, context) == first and again.measurement(genome, SHAPE) is None
    assert again._cache[genome].reference == source._cache[genome].reference


def test_onnx_gpu_refuses_a_session_that_fell_back_to_the_cpu():
    sess = ort.InferenceSession(onnx_for_timing(_model(), SHAPE), providers=["CPUExecutionProvider"])
    with pytest.raises(UserError, match="refusing to time the CPU as the GPU"):
        require_cuda_session(sess)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        # constructed directly (past create's check), it still never times the CPU fallback
        with pytest.raises(UserError, match="CUDAExecutionProvider"):
            OnnxRuntimeCUDA().measure(_model(), SHAPE)


@pytest.mark.slow
def test_profile_warns_in_one_line_when_the_machine_is_too_noisy(tmp_path):
    env = {**os.environ, "EVONAS_CALIBRATION_FILE": str(tmp_path / "cal.json")}
    cmd = [sys.executable, "-m", "evonas", "profile", "--random", "2", "--input-shape", "3,16,16", "--no-memory",
           "--precision", "0.0001", "--repeats-min", "10", "--min-seconds", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and "too noisy for +-0.0% on 2 of 2 networks" in warnings[0]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(r["latency_ms"]["flags"][0].startswith("imprecise") for r in rows)


def test_lookup_table_entries_are_compensated_against_one_small_reference(tmp_path):
    from hardware.layers import space_layers
    from hardware.lut import ENTRY_REFERENCE_SHAPE, entry_protocol, time_layer, with_protocol

    target = get_target("edge-cpu")
    target.compensation = replace(target.compensation, calibration_seconds=QUICK_CALIBRATION)
    target.calibration_file = str(tmp_path / "cal.json")
    entry_target = with_protocol(target, entry_protocol(10))
    layers = space_layers(SpaceConfig.for_resolution(32), (3, 32, 32), 10)
    measured = [time_layer(entry_target, layer) for layer in (layers[0], layers[-1])]
    assert {m.reference["network"] for m in measured} == {drift.reference_name(ENTRY_REFERENCE_SHAPE)}
    assert len(json.loads(Path(target.calibration_file).read_text())["calibrations"]) == 1
    assert target.reference_shape is None  # the copy times entries; the target itself is unchanged
