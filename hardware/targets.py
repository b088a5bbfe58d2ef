"""Targets: where a network runs, and how its latency is measured there.

Every target follows one measurement protocol (:class:`TimingProtocol`): warm up until
timings settle, then a fixed minimum of timed repeats, drop outliers above Q3 + 3 IQR,
and report the median and interquartile range of what is left.
"""

from __future__ import annotations

import abc
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import onnxruntime as ort
import psutil
import torch
from torch import nn

from evonas.errors import UserError
from hardware.onnx_io import to_onnx


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
        min_seconds: keep timing until this much time is spent (up to ``repeats_max``).
        repeats_max: timed runs, at most.
        outlier_iqr: samples above Q3 + ``outlier_iqr`` x IQR are dropped as outliers.
    """

    warmup_min: int = 10
    warmup_max: int = 200
    settle_window: int = 5
    settle_tolerance: float = 0.05
    repeats_min: int = 30
    min_seconds: float = 0.2
    repeats_max: int = 1000
    outlier_iqr: float = 3.0


@dataclass(frozen=True)
class LatencyMeasurement:
    """Median and interquartile range of the timed runs (milliseconds)."""

    median_ms: float
    iqr_ms: float
    repeats: int
    warmup: int
    outliers: int

    def as_dict(self) -> dict:
        return asdict(self)


def time_runs(run: Callable[[], object], protocol: TimingProtocol) -> LatencyMeasurement:
    """Time ``run`` under ``protocol``."""
    warmup, previous = 0, None
    while warmup < protocol.warmup_max:
        window = [_time_once(run) for _ in range(protocol.settle_window)]
        warmup += protocol.settle_window
        current = float(np.median(window))
        settled = previous is not None and abs(current - previous) <= protocol.settle_tolerance * previous
        if warmup >= protocol.warmup_min and settled:
            break
        previous = current
    samples, start = [], time.perf_counter()
    while len(samples) < protocol.repeats_max and (
            len(samples) < protocol.repeats_min or time.perf_counter() - start < protocol.min_seconds):
        samples.append(_time_once(run))
    return summarize(np.array(samples) * 1e3, protocol, warmup)


def summarize(samples_ms: np.ndarray, protocol: TimingProtocol, warmup: int) -> LatencyMeasurement:
    """Drop high outliers and summarise timed samples."""
    q1, q3 = np.percentile(samples_ms, [25, 75])
    kept = samples_ms[samples_ms <= q3 + protocol.outlier_iqr * (q3 - q1)]
    k1, k3 = np.percentile(kept, [25, 75])
    return LatencyMeasurement(float(np.median(kept)), float(k3 - k1), len(kept), warmup,
                              len(samples_ms) - len(kept))


def _time_once(run: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


class Target(abc.ABC):
    """A place a network runs. Subclasses implement :meth:`measure`.

    Attributes:
        name: the CLI name.
        description: a one-line definition (provider, threads, batch).
    """

    name: str = "target"
    description: str = ""
    protocol: TimingProtocol

    @abc.abstractmethod
    def measure(self, model: nn.Module, input_shape: tuple[int, int, int]) -> LatencyMeasurement:
        """Latency of one batch-1 inference of ``model`` at ``input_shape`` (C, H, W)."""

    def settings(self) -> dict:
        """The target's definition, stored with each measurement."""
        return {"name": self.name, "description": self.description}


@dataclass
class OnnxRuntimeCPU(Target):
    """ONNX Runtime, CPU execution provider, on the exported ONNX file.

    Args:
        threads: intra-op threads (1 for ``edge-cpu``; 0 lets ORT use every core).
        pin_core: pin the measuring process to this core while timing (None: don't pin).
    """

    name: str = "edge-cpu"
    threads: int = 1
    pin_core: int | None = 0
    protocol: TimingProtocol = field(default_factory=TimingProtocol)

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
        return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])

    def measure(self, model, input_shape):
        return self.measure_onnx(to_onnx(model, input_shape), input_shape)

    def measure_onnx(self, onnx_bytes: bytes, input_shape: tuple[int, int, int]) -> LatencyMeasurement:
        """Latency of an exported ONNX model."""
        sess = self.session(onnx_bytes)
        feed = {sess.get_inputs()[0].name: np.zeros((1, *input_shape), np.float32)}
        with pinned(self.pin_core):
            return time_runs(lambda: sess.run(None, feed), self.protocol)

    def settings(self) -> dict:
        return {**super().settings(), "threads": self.threads, "pin_core": self.pin_core,
                "provider": "CPUExecutionProvider", "onnxruntime": ort.__version__}


@dataclass
class TorchCPU(Target):
    """torch eager mode on the CPU under ``inference_mode``, torch's default thread count."""

    name: str = "cpu"
    protocol: TimingProtocol = field(default_factory=TimingProtocol)
    description: str = "torch eager on CPU, inference_mode, torch's default threads, batch 1"

    def measure(self, model, input_shape):
        model.eval()
        x = torch.zeros(1, *input_shape)
        with torch.inference_mode():
            return time_runs(lambda: model(x), self.protocol)

    def settings(self) -> dict:
        return {**super().settings(), "threads": torch.get_num_threads(), "torch": torch.__version__}


class pinned:
    """Context manager pinning this process to one core where the OS allows it."""

    def __init__(self, core: int | None):
        self.core = core
        self._before: list[int] | None = None

    def __enter__(self) -> "pinned":
        proc = psutil.Process()
        if self.core is not None and hasattr(proc, "cpu_affinity"):
            self._before = proc.cpu_affinity()
            proc.cpu_affinity([self._before[self.core % len(self._before)]])
        return self

    def __exit__(self, *exc) -> None:
        if self._before is not None:
            psutil.Process().cpu_affinity(self._before)


TARGETS: dict[str, Callable[[], Target]] = {
    "edge-cpu": lambda: OnnxRuntimeCPU(),
    "onnx-cpu": lambda: OnnxRuntimeCPU(name="onnx-cpu", threads=0, pin_core=None),
    "cpu": lambda: TorchCPU(),
}


def get_target(name: str) -> Target:
    """The target called ``name``.

    Raises:
        UserError: no such target.
    """
    if name not in TARGETS:
        raise UserError(f"unknown target {name!r}; choose one of: {', '.join(sorted(TARGETS))}")
    return TARGETS[name]()
