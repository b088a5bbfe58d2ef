"""Peak memory of one inference, measured in a fresh child process.

What is measured: the growth of the child's peak resident set size (Linux ``VmHWM``) from
just before the model is loaded to just after its first inference, i.e. the weights, the
runtime's arena and workspace, and the activations, as a deployed process would see them.

Why a child process: in a long-running process (a search that has been training), freed
heap pages are reused, so a resident-set delta there could hide most of an inference's
memory. A fresh interpreter has no such slack. Where ``/proc/self/clear_refs`` can reset the
high-water mark the baseline is the resident set just before loading; elsewhere it is the
peak so far (``ru_maxrss``), which can only under-count by the imports' transient peak.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

PROBE_TIMEOUT_S = 300


def peak_memory_mb_onnx(onnx_bytes: bytes, input_shape: tuple[int, int, int], threads: int,
                        providers: tuple[str, ...] = ("CPUExecutionProvider",)) -> float:
    """Peak memory (MB) of loading an ONNX model in ONNX Runtime and running it once at batch 1."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(onnx_bytes)
        return _probe(["onnx", str(path), _shape(input_shape), str(threads), ",".join(providers)])


def peak_memory_mb_torch(model: nn.Module, input_shape: tuple[int, int, int]) -> float:
    """Peak memory (MB) of loading a pickled torch module and running it once under ``inference_mode``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        torch.save(model.eval(), path)
        return _probe(["torch", str(path), _shape(input_shape)])


def _shape(input_shape: tuple[int, int, int]) -> str:
    return ",".join(str(d) for d in input_shape)


def _probe(args: list[str]) -> float:
    # Run as a script, not ``-m hardware...``: importing the package would load torch first.
    probe = Path(__file__).with_name("_memprobe.py")
    done = subprocess.run([sys.executable, str(probe), *args], capture_output=True, text=True,
                          timeout=PROBE_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"])
