"""Targets: where a network runs, and how its latency is measured there.

CPU targets compensate for the machine's drift (:mod:`hardware.drift`): each candidate run is
paired with a run of a fixed reference network, and the latency is the median per-pair ratio
times the reference's calibrated latency. Targets without compensation (GPU, user targets, or
``compensation=None``) follow :class:`TimingProtocol`: warm up until timings settle, then a
fixed minimum of timed repeats, drop outliers above Q3 + 3 IQR, and report the median and
interquartile range of what is left.
"""

from __future__ import annotations

import abc
import time
from dataclasses import asdict, dataclass, field
from typing import Annotated, Callable, Sequence

import numpy as np
import onnxruntime as ort
import psutil
import torch
from torch import nn

from evonas.core import gate
from evonas.core.errors import UserError
from evonas.core.options import Range, check_fields, checked
from hardware import drift
from hardware.drift import Calibration, CalibrationFile, Compensation
from hardware.memory import peak_memory_mb_onnx, peak_memory_mb_torch
from hardware.layers import onnx_for_timing
from hardware.onnx_io import OPSET


@dataclass(frozen=True)
class TimingProtocol:
    """How a latency is measured.

    Attributes:
        warmup_min: runs always discarded before timing.
        warmup_max: give up waiting for timings to settle after this many runs.
        settle_window: warm-up runs per window; timings have settled when the median of
            a window is within ``settle_tolerance`` of the previous window's.
        settle_tolerance: relative tolerance for settling.
        repeats_min: timed runs, at least.
        min_seconds: keep timing until this much time is spent (up to ``repeats_max``); a
            machine's speed drifts by a few percent over seconds, so a longer window repeats better.
        repeats_max: timed runs, at most.
        outlier_iqr: samples above Q3 + ``outlier_iqr`` x IQR are dropped as outliers.
    """

    warmup_min: Annotated[int, Range(0, 100_000)] = 10
    warmup_max: Annotated[int, Range(0, 100_000)] = 200
    settle_window: Annotated[int, Range(1, 1000)] = 5
    settle_tolerance: Annotated[float, Range(0, 1, exclusive=True)] = 0.05
    repeats_min: Annotated[int, Range(1, 1_000_000)] = 30
    min_seconds: Annotated[float, Range(0, 3600)] = 1.0
    repeats_max: Annotated[int, Range(1, 1_000_000)] = 1000
    outlier_iqr: Annotated[float, Range(0, exclusive=True)] = 3.0

    def __post_init__(self) -> None:
        check_fields(self)
        if self.warmup_max < self.warmup_min or self.repeats_max < self.repeats_min:
            raise UserError(f"--warmup-max must be at least --warmup-min and --repeats-max at least --repeats-min, "
                            f"got {self.warmup_min}..{self.warmup_max} and {self.repeats_min}..{self.repeats_max}")


@dataclass(frozen=True)
class LatencyMeasurement:
    """A latency (milliseconds): its median, spread and how it was obtained.

    Attributes:
        median_ms: the latency (drift-compensated where the target compensates).
        iqr_ms: ``high_ms - low_ms``.
        repeats: timed runs kept (pairs, when compensated).
        warmup: runs discarded before timing.
        outliers: timed runs dropped as outliers.
        low_ms, high_ms: the interval noise-aware dominance compares: the quartiles of the
            timed runs (of the per-pair compensated values, when compensated).
        raw_median_ms, raw_iqr_ms: the candidate's own timings, uncompensated.
        reference: the reference network, its calibrated and observed latency and its drift
            during the measurement (None when not compensated).
        conditions: other processes' load on the timing cores, steal time, attempts.
        flags: what made the measurement untrustworthy (empty when nothing did).
    """

    median_ms: float
    iqr_ms: float
    repeats: int
    warmup: int
    outliers: int
    low_ms: float | None = None
    high_ms: float | None = None
    raw_median_ms: float | None = None
    raw_iqr_ms: float | None = None
    reference: dict | None = None
    conditions: dict | None = None
    flags: tuple[str, ...] = ()

    @property
    def interval(self) -> tuple[float, float]:
        """(low, high) in ms; a median +- IQR/2 where no quartiles were recorded."""
        if self.low_ms is None or self.high_ms is None:
            return self.median_ms - self.iqr_ms / 2, self.median_ms + self.iqr_ms / 2
        return self.low_ms, self.high_ms

    def as_dict(self) -> dict:
        return {**asdict(self), "flags": list(self.flags)}

    @classmethod
    def from_dict(cls, data: dict) -> "LatencyMeasurement":
        """Inverse of :meth:`as_dict` (unknown keys are ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        fields = {k: v for k, v in data.items() if k in known}
        fields["flags"] = tuple(fields.get("flags", ()))
        return cls(**fields)


def time_runs(run: Callable[[], object], protocol: TimingProtocol,
              clock: Callable[[Callable[[], object]], float] | None = None) -> LatencyMeasurement:
    """Time ``run`` under ``protocol``.

    Args:
        run: one inference.
        protocol: warm-up, repeats and outlier rule.
        clock: seconds one call of ``run`` takes (default: ``perf_counter`` around it;
            the GPU target passes CUDA events).
    """
    with gate.timing():  # other workers' training pauses while this network is timed
        return _time_runs(run, protocol, clock or _time_once)


def _time_runs(run: Callable[[], object], protocol: TimingProtocol,
               time_once: Callable[[Callable[[], object]], float]) -> LatencyMeasurement:
    warmup, previous = 0, None
    while warmup < protocol.warmup_max:
        window = [time_once(run) for _ in range(protocol.settle_window)]
        warmup += protocol.settle_window
        current = float(np.median(window))
        settled = previous is not None and abs(current - previous) <= protocol.settle_tolerance * previous
        if warmup >= protocol.warmup_min and settled:
            break
        previous = current
    samples, start = [], time.perf_counter()
    while len(samples) < protocol.repeats_max and (
            len(samples) < protocol.repeats_min or time.perf_counter() - start < protocol.min_seconds):
        samples.append(time_once(run))
    return summarize(np.array(samples) * 1e3, protocol, warmup)


def summarize(samples_ms: np.ndarray, protocol: TimingProtocol, warmup: int) -> LatencyMeasurement:
    """Drop high outliers and summarise timed samples."""
    q1, q3 = np.percentile(samples_ms, [25, 75])
    kept = samples_ms[samples_ms <= q3 + protocol.outlier_iqr * (q3 - q1)]
    k1, k3 = np.percentile(kept, [25, 75])
    median = float(np.median(kept))
    return LatencyMeasurement(median, float(k3 - k1), len(kept), warmup, len(samples_ms) - len(kept),
                              low_ms=float(k1), high_ms=float(k3), raw_median_ms=median, raw_iqr_ms=float(k3 - k1))


def time_compensated(runs: Sequence[Callable[[], object]], ref_run: Callable[[], object], calibration: Calibration,
                     comp: Compensation, protocol: TimingProtocol,
                     clock: Callable[[Callable[[], object]], float] | None = None) -> list[LatencyMeasurement]:
    """Time ``runs`` side by side, each paired with the reference's ``ref_run``, compensating drift.

    See :mod:`hardware.drift`. Pairs are timed until every median ratio is precise enough (within
    ``comp.patience``); a measurement disturbed by contention or steal is taken again, up to
    ``comp.attempts`` times, and the most precise one is kept with what was seen during it.
    """
    time_once = clock or _time_once
    best = None
    for attempt in range(1, comp.attempts + 1):
        with drift.LoadProbe() as probe:
            cand, ref = drift.time_pairs(runs, ref_run, protocol.warmup_min, protocol.repeats_min,
                                         protocol.min_seconds, protocol.repeats_max, time_once, comp.precision,
                                         comp.patience * protocol.min_seconds)
            estimates = [drift.estimate(c, ref, calibration.median_ms) for c in cand]
        found = [drift.flags(e, probe.conditions, comp) for e in estimates]
        worst = max(e.precision for e in estimates)
        if best is None or worst < best[0]:
            best = (worst, estimates, probe.conditions, found)
        if not any(f.split(":")[0] in drift.REMEASURED for flags in found for f in flags):
            break
    _, estimates, conditions, found = best  # "attempts" below counts every measurement taken
    return [_compensated(est, calibration, conditions, flags, protocol, attempt)
            for est, flags in zip(estimates, found)]


def _compensated(est: drift.Estimate, calibration: Calibration, conditions: drift.Conditions,
                 flags: tuple[str, ...], protocol: TimingProtocol, attempts: int) -> LatencyMeasurement:
    reference = {"network": calibration.reference, "calibrated_ms": calibration.median_ms,
                 "calibration": calibration.key, "calibrated_at": calibration.created,
                 "observed_ms": est.reference_ms, "level": est.reference_ms / calibration.median_ms - 1,
                 "drift": est.reference_drift}
    seen = {"other_load": conditions.other_load, "steal": conditions.steal, "cores": list(conditions.cores),
            "precision": est.precision, "attempts": attempts}
    return LatencyMeasurement(est.median_ms, est.high_ms - est.low_ms, est.pairs, protocol.warmup_min, 0,
                              low_ms=est.low_ms, high_ms=est.high_ms, raw_median_ms=est.raw_median_ms,
                              raw_iqr_ms=est.raw_iqr_ms, reference=reference, conditions=seen, flags=flags)


def _calibrated_under_load(m: LatencyMeasurement, comp: Compensation) -> bool:
    """Whether the reference now runs clearly faster than its calibration says it can.

    A calibration is the reference's fast level on this machine, so a reference observed faster
    by more than ``comp.max_drift`` proves the calibration was taken on a loaded machine (it
    would scale every latency up by the same wrong factor), and it is measured again.
    """
    return m.reference["observed_ms"] * (1 + comp.max_drift) < m.reference["calibrated_ms"]


def _time_once(run: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


@dataclass(frozen=True)
class InferenceProfile:
    """Latency and peak memory (MB; None where the target cannot measure it) of one network."""

    latency: LatencyMeasurement
    peak_memory_mb: float | None


class Target(abc.ABC):
    """A place a network runs. Subclasses implement :meth:`measure`.

    Optional hooks: :meth:`peak_memory_mb` (default: not measured), :meth:`profile`
    (default: :meth:`measure` then :meth:`peak_memory_mb`) and :meth:`settings`.

    Attributes:
        name: the CLI name.
        description: a one-line definition (provider, threads, batch).
    """

    name: str = "target"
    description: str = ""
    protocol: TimingProtocol
    compensation: Compensation | None = None
    calibration_file: str | None = None
    reference_shape: tuple[int, int, int] | None = None  # the reference's input; None: the measured network's

    @abc.abstractmethod
    def measure(self, model: nn.Module, input_shape: tuple[int, int, int]) -> LatencyMeasurement:
        """Latency of one batch-1 inference of ``model`` at ``input_shape`` (C, H, W)."""

    def settings(self) -> dict:
        """The target's definition, stored with each measurement."""
        protocol = getattr(self, "protocol", None)
        return {"name": self.name, "description": self.description, "batch": 1,
                "protocol": None if protocol is None else asdict(protocol),
                "compensation": None if self.compensation is None else asdict(self.compensation)}

    def calibration(self, input_shape: tuple[int, int, int], ref_run: Callable[[], object],
                    clock: Callable[[Callable[[], object]], float] | None = None) -> Calibration:
        """The reference network's calibrated latency at ``input_shape`` here (measured once per machine,
        read from the calibration file once per target and shape)."""
        from hardware.fingerprint import environment_fingerprint

        cache = self.__dict__.setdefault("_runtime", {})
        if ("calibration", input_shape) not in cache:
            reference = drift.reference_name(input_shape)
            key = drift.calibration_key(environment_fingerprint(self.settings()), reference)
            cache[("calibration", input_shape)] = CalibrationFile(self.calibration_file).get_or_measure(
                key, reference,
                lambda: drift.calibrate(ref_run, self.compensation.calibration_seconds, clock or _time_once))
        return cache[("calibration", input_shape)]

    def recalibrate(self, input_shape: tuple[int, int, int], ref_run: Callable[[], object],
                    clock: Callable[[Callable[[], object]], float] | None = None) -> Calibration:
        """Drop the stored calibration at ``input_shape`` and measure it again."""
        stale = self.calibration(input_shape, ref_run, clock)
        CalibrationFile(self.calibration_file).forget(stale.key)
        self.__dict__["_runtime"].pop(("calibration", input_shape))
        return self.calibration(input_shape, ref_run, clock)

    def measure_side_by_side(self, models: list[nn.Module], input_shape: tuple[int, int, int]
                             ) -> list[LatencyMeasurement]:
        """Latencies of ``models`` measured together, their runs interleaved in the same time windows,
        so the machine's drift is common to all of them (default: one after the other)."""
        return [self.measure(model, input_shape) for model in models]

    def time_against_reference(self, runs: Sequence[Callable[[], object]], ref_run: Callable[[], object],
                               input_shape: tuple[int, int, int],
                               clock: Callable[[Callable[[], object]], float] | None = None
                               ) -> list[LatencyMeasurement]:
        """Drift-compensated latencies of ``runs``, each paired with ``ref_run`` (the reference at ``input_shape``)."""
        with gate.timing():
            calibration = self.calibration(input_shape, ref_run, clock)
            measured = time_compensated(runs, ref_run, calibration, self.compensation, self.protocol, clock)
            if all(_calibrated_under_load(m, self.compensation) for m in measured):
                calibration = self.recalibrate(input_shape, ref_run, clock)
                measured = time_compensated(runs, ref_run, calibration, self.compensation, self.protocol, clock)
            return measured

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_runtime", None)  # prepared reference sessions do not pickle; rebuilt where needed
        return state

    def _reference(self, input_shape: tuple[int, int, int], prepare: Callable[[nn.Module], Callable[[], object]]
                   ) -> Callable[[], object]:
        """The reference network at ``input_shape``, prepared once by ``prepare(model) -> run``."""
        cache = self.__dict__.setdefault("_runtime", {})
        if input_shape not in cache:
            cache[input_shape] = prepare(drift.reference_network(input_shape))
        return cache[input_shape]

    def peak_memory_mb(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float | None:
        """Peak memory of loading ``model`` and running it once (see :mod:`hardware.memory`)."""
        return None

    def profile(self, model: nn.Module, input_shape: tuple[int, int, int]) -> InferenceProfile:
        """Latency and peak memory of ``model``."""
        return InferenceProfile(self.measure(model, input_shape), self.peak_memory_mb(model, input_shape))


@dataclass
class OnnxRuntimeCPU(Target):
    """ONNX Runtime, CPU execution provider, on the network's batch-1 ONNX graph
    (:func:`~hardware.layers.onnx_for_timing`).

    Args:
        threads: intra-op threads (1 for ``edge-cpu``; 0 lets ORT use every core).
        pin_core: pin the measuring process to one core while timing: an index into the
            allowed cores, ``"auto"`` (the core the scheduler runs the process on once its
            priority is raised, so concurrent measurements land on different cores instead
            of all on core 0), or None (don't pin).
        raise_priority: raise the process's scheduling priority while timing, where the OS
            allows it (root or CAP_SYS_NICE), so that other processes do not time-slice
            the measured runs.
    """

    name: str = "edge-cpu"
    threads: int = 1
    pin_core: int | str | None = "auto"
    raise_priority: bool = True
    protocol: TimingProtocol = field(default_factory=TimingProtocol)
    compensation: Compensation | None = field(default_factory=Compensation)
    calibration_file: str | None = None

    @property
    def description(self) -> str:  # type: ignore[override]
        threads = "all cores" if self.threads == 0 else f"{self.threads} intra-op thread(s)"
        return f"ONNX Runtime CPUExecutionProvider, {threads}, sequential execution, batch 1"

    def session(self, onnx_bytes: bytes) -> ort.InferenceSession:
        """An ORT session configured as this target defines."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(onnx_bytes, options, providers=self.providers())

    def providers(self) -> list[str]:
        """ONNX Runtime execution providers, in order of preference."""
        return ["CPUExecutionProvider"]

    def measure(self, model, input_shape):
        return self.measure_onnx(onnx_for_timing(model, input_shape), input_shape)

    def peak_memory_mb(self, model, input_shape):
        return peak_memory_mb_onnx(onnx_for_timing(model, input_shape), input_shape, self.threads, tuple(self.providers()))

    def profile(self, model, input_shape):
        onnx_bytes = onnx_for_timing(model, input_shape)  # export once for both measurements
        return InferenceProfile(self.measure_onnx(onnx_bytes, input_shape),
                                peak_memory_mb_onnx(onnx_bytes, input_shape, self.threads, tuple(self.providers())))

    def measure_onnx(self, onnx_bytes: bytes, input_shape: tuple[int, int, int]) -> LatencyMeasurement:
        """Latency of an exported ONNX model."""
        return self.measure_onnx_side_by_side([onnx_bytes], input_shape)[0]

    def measure_onnx_side_by_side(self, onnx_models: Sequence[bytes], input_shape: tuple[int, int, int]
                                  ) -> list[LatencyMeasurement]:
        """Latencies of exported ONNX models measured together, their runs interleaved in the same
        time windows (e.g. a float model and its int8 quantisation), at batch 1."""
        return self._measure_runs([self._runner(b, input_shape) for b in onnx_models], input_shape)

    def measure_side_by_side(self, models, input_shape):
        return self.measure_onnx_side_by_side([onnx_for_timing(m, input_shape) for m in models], input_shape)

    def _measure_runs(self, runs: list[Callable[[], object]], input_shape: tuple[int, int, int]
                      ) -> list[LatencyMeasurement]:
        ref_run, ref_shape = None, tuple(self.reference_shape or input_shape)
        if self.compensation is not None:
            ref_run = self._reference(ref_shape, lambda model: self._runner(onnx_for_timing(model, ref_shape), ref_shape))
        with prioritized(self.raise_priority):
            runs[0]()  # lets the scheduler place the re-prioritised process before pinning
            with pinned(self.pin_core):
                if ref_run is None:
                    return [time_runs(run, self.protocol) for run in runs]
                return self.time_against_reference(runs, ref_run, ref_shape)

    def _runner(self, onnx_bytes: bytes, input_shape: tuple[int, int, int]) -> Callable[[], object]:
        sess = self.session(onnx_bytes)
        feed = {sess.get_inputs()[0].name: np.zeros((1, *input_shape), np.float32)}
        return lambda: sess.run(None, feed)

    def settings(self) -> dict:
        return {**super().settings(), "threads": self.threads, "pin_core": self.pin_core,
                "raise_priority": self.raise_priority, "provider": self.providers()[0], "opset": OPSET,
                "onnxruntime": ort.__version__}


@dataclass
class TorchCPU(Target):
    """torch eager mode on the CPU under ``inference_mode``, torch's default thread count."""

    name: str = "cpu"
    protocol: TimingProtocol = field(default_factory=TimingProtocol)
    description: str = "torch eager on CPU, inference_mode, torch's default threads, batch 1"
    compensation: Compensation | None = field(default_factory=Compensation)
    calibration_file: str | None = None

    def measure(self, model, input_shape):
        return self.measure_side_by_side([model], input_shape)[0]

    def measure_side_by_side(self, models, input_shape):
        runs = [_torch_runner(model, input_shape) for model in models]
        if self.compensation is None:
            return [time_runs(run, self.protocol) for run in runs]
        ref_shape = tuple(self.reference_shape or input_shape)
        return self.time_against_reference(runs, self._reference(ref_shape, lambda m: _torch_runner(m, ref_shape)),
                                           ref_shape)

    def peak_memory_mb(self, model, input_shape):
        return peak_memory_mb_torch(model, input_shape)

    def settings(self) -> dict:
        return {**super().settings(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def _torch_runner(model: nn.Module, input_shape: tuple[int, int, int]) -> Callable[[], object]:
    model.eval()
    x = torch.zeros(1, *input_shape)

    def run():
        with torch.inference_mode():
            return model(x)
    return run


class pinned:
    """Context manager pinning this process to one core where the OS allows it.

    Args:
        core: index into the allowed cores, ``"auto"`` for the core it is running on now,
            or None (no pinning).
    """

    def __init__(self, core: int | str | None):
        self.core = core
        self._before: list[int] | None = None

    def __enter__(self) -> "pinned":
        proc = psutil.Process()
        if self.core is not None and hasattr(proc, "cpu_affinity"):
            self._before = proc.cpu_affinity()
            if self.core == "auto":
                current = proc.cpu_num() if hasattr(proc, "cpu_num") else self._before[0]
                proc.cpu_affinity([current if current in self._before else self._before[0]])
            else:
                proc.cpu_affinity([self._before[int(self.core) % len(self._before)]])
        return self

    def __exit__(self, *exc) -> None:
        if self._before is not None:
            psutil.Process().cpu_affinity(self._before)


class prioritized:
    """Context manager raising this process's priority to the highest nice level, where permitted.

    Without the privilege the priority is left as it is (``raised`` says which happened).
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.raised = False
        self._before: int | None = None

    def __enter__(self) -> "prioritized":
        if self.enabled:
            proc = psutil.Process()
            self._before = proc.nice()
            try:
                proc.nice(-20)
                self.raised = True
            except psutil.AccessDenied:  # unprivileged: measure at normal priority
                self.raised = False
        return self

    def __exit__(self, *exc) -> None:
        if self.raised:
            psutil.Process().nice(self._before)


def _core(pin_core: str) -> int | str | None:
    text = pin_core.strip().lower()
    if text not in ("auto", "none") and not (text.isascii() and text.isdigit()):
        raise UserError(f"--pin-core must be a core index, 'auto' or 'none', got {pin_core!r}")
    return None if text == "none" else int(text) if text.isdigit() else text


PRECISION = Annotated[float, Range(0, 1, exclusive=True)]
"""A compensated latency's allowed relative 95% CI half-width: a fraction, e.g. 0.02."""


def _compensation(compensate: bool, precision: float) -> Compensation | None:
    return Compensation(precision=precision) if compensate else None


@checked
def edge_cpu(pin_core: str = "auto", raise_priority: bool = True, compensate: bool = True, precision: PRECISION = 0.02,
             protocol: TimingProtocol = TimingProtocol()) -> Target:
    """ONNX Runtime on the exported file, CPU provider, 1 intra-op thread, pinned to one core.

    Args:
        pin_core: the core timing runs on: an index into the allowed cores, 'auto' or 'none'.
        raise_priority: raise the scheduling priority while timing, where the OS allows it.
        compensate: time against the reference network to compensate the machine's drift.
        precision: re-measure (then flag) a compensated latency whose 95% CI is wider than this fraction.
        protocol: warm-up, repeats and time window of each measurement.
    """
    return OnnxRuntimeCPU(pin_core=_core(pin_core), raise_priority=raise_priority, protocol=protocol,
                          compensation=_compensation(compensate, precision))


@checked
def onnx_cpu(threads: Annotated[int, Range(0, 1024)] = 0, compensate: bool = True, precision: PRECISION = 0.02,
             protocol: TimingProtocol = TimingProtocol()) -> Target:
    """ONNX Runtime on the exported file, CPU provider, unpinned.

    Args:
        threads: intra-op threads (0: every core).
        compensate: time against the reference network to compensate the machine's drift.
        precision: re-measure (then flag) a compensated latency whose 95% CI is wider than this fraction.
        protocol: warm-up, repeats and time window of each measurement.
    """
    return OnnxRuntimeCPU(name="onnx-cpu", threads=threads, pin_core=None, protocol=protocol,
                          compensation=_compensation(compensate, precision))


@checked
def torch_cpu(compensate: bool = True, precision: PRECISION = 0.02, protocol: TimingProtocol = TimingProtocol()) -> Target:
    """torch eager on the CPU under inference_mode.

    Args:
        compensate: time against the reference network to compensate the machine's drift.
        precision: re-measure (then flag) a compensated latency whose 95% CI is wider than this fraction.
        protocol: warm-up, repeats and time window of each measurement.
    """
    return TorchCPU(protocol=protocol, compensation=_compensation(compensate, precision))
