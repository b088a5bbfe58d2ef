"""GPU targets: ``gpu`` (torch on CUDA, timed with CUDA events) and ``onnx-gpu`` (ONNX Runtime's CUDA provider).

Built on :mod:`hardware.targets`; their factories (:func:`torch_cuda`, :func:`onnx_cuda`) are
entries of :data:`hardware.registry.TARGETS`. Both refuse to be created without a usable device (:class:`~evonas.core.errors.UserError`
with one line saying what is missing), so a search never silently times the CPU instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import onnxruntime as ort
import torch

from evonas.core.errors import UserError
from hardware.drift import Compensation
from hardware.targets import InferenceProfile, LatencyMeasurement, OnnxRuntimeCPU, Target, TimingProtocol, time_runs

CUDA_PROVIDER = "CUDAExecutionProvider"


def require_cuda() -> None:
    """Raise :class:`UserError` unless torch sees a CUDA device."""
    if not torch.cuda.is_available():
        raise UserError("target 'gpu' needs a CUDA GPU and a CUDA build of torch; "
                        f"torch {torch.__version__} sees none (choose --target edge-cpu, onnx-cpu or cpu)")


def cuda_event_clock(run: Callable[[], object]) -> float:
    """Seconds one call of ``run`` takes on the GPU, from CUDA events after synchronising."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    run()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


@dataclass
class TorchCUDA(Target):
    """torch eager on CUDA device 0, ``inference_mode``, batch 1, timed with CUDA events.

    Peak memory is ``torch.cuda.max_memory_allocated`` during one inference, over what was
    allocated before it (weights included, since the model is moved to the device inside).
    """

    name: str = "gpu"
    protocol: TimingProtocol = field(default_factory=TimingProtocol)
    description: str = "torch eager on CUDA device 0, inference_mode, batch 1, CUDA-event timing"

    @classmethod
    def create(cls, protocol: TimingProtocol | None = None) -> "TorchCUDA":
        require_cuda()
        return cls(protocol=protocol or TimingProtocol())

    def measure(self, model, input_shape) -> LatencyMeasurement:
        model = model.eval().to("cuda")
        x = torch.zeros(1, *input_shape, device="cuda")
        try:
            with torch.inference_mode():
                return time_runs(lambda: model(x), self.protocol, clock=cuda_event_clock)
        finally:
            model.cpu()

    def peak_memory_mb(self, model, input_shape) -> float:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        model = model.eval().to("cuda")
        try:
            with torch.inference_mode():
                model(torch.zeros(1, *input_shape, device="cuda"))
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_allocated() - before) / 2**20
        finally:
            model.cpu()

    def profile(self, model, input_shape) -> InferenceProfile:
        memory = self.peak_memory_mb(model, input_shape)
        return InferenceProfile(self.measure(model, input_shape), memory)

    def settings(self) -> dict:
        return {**super().settings(), "device": torch.cuda.get_device_name(0),
                "cuda": torch.version.cuda, "torch": torch.__version__}


@dataclass
class OnnxRuntimeCUDA(OnnxRuntimeCPU):
    """ONNX Runtime's CUDAExecutionProvider on the network's batch-1 ONNX graph.

    ``sess.run`` returns host outputs, so wall-clock timing includes the copies a deployed
    caller pays.
    """

    name: str = "onnx-gpu"
    threads: int = 1
    pin_core: int | None = None
    compensation: Compensation | None = None  # GPU timing is not subject to the CPU's drift

    @classmethod
    def create(cls, protocol: TimingProtocol | None = None) -> "OnnxRuntimeCUDA":
        if CUDA_PROVIDER not in ort.get_available_providers():
            raise UserError(f"target 'onnx-gpu' needs onnxruntime-gpu with {CUDA_PROVIDER}; this onnxruntime "
                            f"{ort.__version__} offers {', '.join(ort.get_available_providers())}")
        return cls(protocol=protocol or TimingProtocol())

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"ONNX Runtime {CUDA_PROVIDER} (CPU fallback for unsupported ops), batch 1"

    def providers(self) -> list[str]:
        return [CUDA_PROVIDER, "CPUExecutionProvider"]

    def session(self, onnx_bytes: bytes) -> ort.InferenceSession:
        """An ORT session on the CUDA provider; refuses one that ONNX Runtime placed on the CPU instead."""
        sess = super().session(onnx_bytes)
        require_cuda_session(sess)
        return sess


def require_cuda_session(sess) -> None:
    """Raise :class:`UserError` unless ONNX Runtime assigned ``sess`` to the CUDA provider.

    ONNX Runtime falls back to the CPU silently when the CUDA provider fails to load (missing
    CUDA or cuDNN libraries); timing that session would report CPU latency as GPU latency.
    """
    assigned = sess.get_providers()
    if not assigned or assigned[0] != CUDA_PROVIDER:
        raise UserError(f"target 'onnx-gpu': ONNX Runtime assigned {', '.join(assigned) or 'no provider'}, not "
                        f"{CUDA_PROVIDER} (CUDA or cuDNN libraries missing?); refusing to time the CPU as the GPU")


def torch_cuda(protocol: TimingProtocol = TimingProtocol()) -> Target:
    """torch eager on CUDA device 0, timed with CUDA events (a clear error without a GPU).

    Args:
        protocol: how each latency is measured (warm-up, repeats, window).
    """
    return TorchCUDA.create(protocol)


def onnx_cuda(protocol: TimingProtocol = TimingProtocol()) -> Target:
    """ONNX Runtime's CUDA execution provider on the exported file (a clear error where it is missing).

    Args:
        protocol: how each latency is measured (warm-up, repeats, window).
    """
    return OnnxRuntimeCUDA.create(protocol)
