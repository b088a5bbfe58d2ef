"""The plug-in point for targets the user owns: a board, a phone, a remote server.

Subclass :class:`ExternalTarget` (public as ``evonas.ExternalTarget``) and implement one method, ``latency_ms(onnx_path)``: it
gets the path of the network's ONNX file (batch 1, input ``input``, output ``logits``) and returns either
one latency in milliseconds or the list of per-run timings it took (then evonas applies its
own outlier rule and reports their median and interquartile range). Or wrap a function
with :class:`CallableTarget` (``evonas.CallableTarget``). Use it from Python (``ImageClassification(..., target=...)``)
or from the CLI as ``--target my_package.my_module:make_target``; see
``examples/remote_target.py``.
"""

from __future__ import annotations

import abc
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hardware.layers import onnx_for_timing
from hardware.targets import LatencyMeasurement, Target, TimingProtocol, summarize

LatencyResult = float | Sequence[float]


class ExternalTarget(Target):
    """A target measured by user code on the exported ONNX file.

    Subclasses set ``name`` and ``description`` and implement :meth:`latency_ms`.
    """

    name = "external"
    description = "user-defined target measuring the exported ONNX file"
    protocol = TimingProtocol()

    @abc.abstractmethod
    def latency_ms(self, onnx_path: Path) -> LatencyResult:
        """Latency of one batch-1 inference of the model at ``onnx_path`` (ms), or per-run timings (ms)."""

    def measure(self, model, input_shape) -> LatencyMeasurement:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(onnx_for_timing(model, input_shape))
            return as_measurement(self.latency_ms(path), self.protocol)


def as_measurement(result: LatencyResult, protocol: TimingProtocol) -> LatencyMeasurement:
    """One latency or a list of per-run timings (ms) as a :class:`LatencyMeasurement`."""
    samples = np.atleast_1d(np.asarray(result, dtype=float))
    if samples.size == 0 or not np.all(np.isfinite(samples)) or np.any(samples <= 0):
        raise ValueError(f"an external target must return positive finite latencies (ms), got {result!r}")
    if samples.size == 1:
        return LatencyMeasurement(float(samples[0]), 0.0, 1, 0, 0)
    return summarize(samples, protocol, warmup=0)


@dataclass
class CallableTarget(ExternalTarget):
    """An :class:`ExternalTarget` from a function ``onnx_path -> latency ms (or per-run ms)``."""

    function: Callable[[Path], LatencyResult]
    name: str = "external"
    description: str = "user-defined target measuring the exported ONNX file"
    protocol: TimingProtocol = field(default_factory=TimingProtocol)

    def latency_ms(self, onnx_path: Path) -> LatencyResult:
        return self.function(onnx_path)
