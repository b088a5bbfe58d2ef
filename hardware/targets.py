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

from evonas.core import gate
from evonas.core.errors import UserError
from hardware.memory import peak_memory_mb_onnx, peak_memory_mb_torch
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
        min_seconds: keep timing until this much time is spent (up to ``repeats_max``); a
            machine's speed drifts by a few percent over seconds, so a longer window repeats better.
        repeats_max: timed runs, at most.
        outlier_iqr: samples above Q3 + ``outlier_iqr`` x IQR are dropped as outliers.
    """

    warmup_min: int = 10
    warmup_max: int = 200
    settle_window: int = 5
    settle_tolerance: float = 0.05
    repeats_min: int = 30
    min_seconds: float = 1.0
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
    return LatencyMeasurement(float(np.median(kept)), float(k3 - k1), len(kept), warmup,
                              len(samples_ms) - len(kept))


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

    @abc.abstractmethod
    def measure(self, model: nn.Module, input_shape: tuple[int, int, int]) -> LatencyMeasurement:
        """Latency of one batch-1 inference of ``model`` at ``input_shape`` (C, H, W)."""

    def settings(self) -> dict:
        """The target's definition, stored with each measurement."""
        protocol = getattr(self, "protocol", None)
        return {"name": self.name, "description": self.description, "batch": 1,
                "protocol": None if protocol is None else asdict(protocol)}

    def peak_memory_mb(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float | None:
        """Peak memory of loading ``model`` and running it once (see :mod:`hardware.memory`)."""
        return None

    def profile(self, model: nn.Module, input_shape: tuple[int, int, int]) -> InferenceProfile:
        """Latency and peak memory of ``model``."""
        return InferenceProfile(self.measure(model, input_shape), self.peak_memory_mb(model, input_shape))


@dataclass
class OnnxRuntimeCPU(Target):
    """ONNX Runtime, CPU execution provider, on the exported ONNX file.

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
        return self.measure_onnx(to_onnx(model, input_shape), input_shape)

    def peak_memory_mb(self, model, input_shape):
        return peak_memory_mb_onnx(to_onnx(model, input_shape), input_shape, self.threads, tuple(self.providers()))

    def profile(self, model, input_shape):
        onnx_bytes = to_onnx(model, input_shape)  # export once for both measurements
        return InferenceProfile(self.measure_onnx(onnx_bytes, input_shape),
                                peak_memory_mb_onnx(onnx_bytes, input_shape, self.threads, tuple(self.providers())))

    def measure_onnx(self, onnx_bytes: bytes, input_shape: tuple[int, int, int]) -> LatencyMeasurement:
        """Latency of an exported ONNX model."""
        sess = self.session(onnx_bytes)
        feed = {sess.get_inputs()[0].name: np.zeros((1, *input_shape), np.float32)}
        with prioritized(self.raise_priority):
            sess.run(None, feed)  # lets the scheduler place the re-prioritised process before pinning
            with pinned(self.pin_core):
                return time_runs(lambda: sess.run(None, feed), self.protocol)

    def settings(self) -> dict:
        return {**super().settings(), "threads": self.threads, "pin_core": self.pin_core,
                "raise_priority": self.raise_priority, "provider": self.providers()[0],
                "onnxruntime": ort.__version__}


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

    def peak_memory_mb(self, model, input_shape):
        return peak_memory_mb_torch(model, input_shape)

    def settings(self) -> dict:
        return {**super().settings(), "threads": torch.get_num_threads(), "torch": torch.__version__}


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
    return None if pin_core.lower() == "none" else int(pin_core) if pin_core.isdigit() else pin_core


def edge_cpu(pin_core: str = "auto", raise_priority: bool = True,
             protocol: TimingProtocol = TimingProtocol()) -> Target:
    """ONNX Runtime on the exported file, CPU provider, 1 intra-op thread, pinned to one core.

    Args:
        pin_core: the core timing runs on: an index into the allowed cores, 'auto' or 'none'.
        raise_priority: raise the scheduling priority while timing, where the OS allows it.
        protocol: how each latency is measured (warm-up, repeats, window).
    """
    return OnnxRuntimeCPU(pin_core=_core(pin_core), raise_priority=raise_priority, protocol=protocol)


def onnx_cpu(threads: int = 0, protocol: TimingProtocol = TimingProtocol()) -> Target:
    """ONNX Runtime on the exported file, CPU provider, unpinned.

    Args:
        threads: intra-op threads (0: every core).
        protocol: how each latency is measured (warm-up, repeats, window).
    """
    return OnnxRuntimeCPU(name="onnx-cpu", threads=threads, pin_core=None, protocol=protocol)


def torch_cpu(protocol: TimingProtocol = TimingProtocol()) -> Target:
    """torch eager on the CPU under inference_mode.

    Args:
        protocol: how each latency is measured (warm-up, repeats, window).
    """
    return TorchCPU(protocol=protocol)


def torch_cuda(protocol: TimingProtocol = TimingProtocol()) -> Target:
    """torch eager on CUDA device 0, timed with CUDA events (a clear error without a GPU).

    Args:
        protocol: how each latency is measured (warm-up, repeats, window).
    """
    return _gpu_target("TorchCUDA", protocol)


def onnx_cuda(protocol: TimingProtocol = TimingProtocol()) -> Target:
    """ONNX Runtime's CUDA execution provider on the exported file (a clear error where it is missing).

    Args:
        protocol: how each latency is measured (warm-up, repeats, window).
    """
    return _gpu_target("OnnxRuntimeCUDA", protocol)


TARGETS: dict[str, Callable[..., Target]] = {
    "edge-cpu": edge_cpu,
    "onnx-cpu": onnx_cpu,
    "cpu": torch_cpu,
    "gpu": torch_cuda,
    "onnx-gpu": onnx_cuda,
}
"""Target factories by name; each declares its options (see :func:`evonas.core.options.options_of`)."""


def _gpu_target(cls_name: str, protocol: TimingProtocol) -> Target:
    from hardware import gpu  # imported lazily: hardware.gpu builds on this module

    return getattr(gpu, cls_name).create(protocol)


def get_target(name: str, **options) -> Target:
    """The target called ``name`` with its ``options``, or a user's target given as ``package.module:factory``.

    A ``module:factory`` name imports ``module`` (it must be importable, e.g. on
    ``PYTHONPATH``) and calls ``factory()``, which must return a :class:`Target` (for a
    board or phone, see :class:`hardware.external.ExternalTarget`).

    Raises:
        UserError: no such target.
    """
    if ":" in name:
        if options:
            raise UserError(f"a user target ({name}) takes no target options; its factory configures it")
        return _user_target(name)
    if name not in TARGETS:
        raise UserError(f"unknown target {name!r}; choose one of: {', '.join(sorted(TARGETS))}")
    from evonas.core.options import instantiate

    return instantiate(TARGETS[name], options)


def _user_target(spec: str) -> Target:
    import importlib

    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"cannot load target {spec!r}: {exc}") from None
    target = factory()
    if not isinstance(target, Target):
        raise UserError(f"target {spec!r} returned {type(target).__name__}, not a hardware.targets.Target")
    return target
