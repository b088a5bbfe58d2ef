"""The environment a latency was measured in: machine, libraries and target settings.

Every stored measurement carries a fingerprint, and a latency table (:mod:`hardware.lut`)
is only trusted on a machine whose :func:`identity` matches the one it was built on.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import psutil
import torch

# Fields that must match for a latency table to be valid here; the rest is information.
# The target's settings are compared field by field, except how it is timed (the protocol).
IDENTITY_KEYS = ("cpu_model", "machine", "logical_cores", "governor", "torch", "onnxruntime", "gpu")
TARGET_IGNORED = ("protocol", "compensation", "description")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else :mod:`platform`)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def frequency_governor() -> str | None:
    """The cpufreq scaling governor of CPU 0, or None where the OS does not expose it."""
    path = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    try:
        return path.read_text().strip()
    except OSError:
        return None


def gpu_name() -> str | None:
    """The CUDA device's name, or None without a usable GPU."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def environment_fingerprint(target_settings: dict[str, Any]) -> dict[str, Any]:
    """The machine, libraries and ``target_settings`` (a :meth:`Target.settings` dict).

    Returns:
        A JSON-able dict: CPU model, architecture, core counts, frequency governor and
        maximum frequency where readable, CPU affinity, GPU, OS, Python, torch,
        onnxruntime, onnx and numpy versions, torch's thread count, and the target.
    """
    freq = psutil.cpu_freq()
    proc = psutil.Process()
    return {
        "cpu_model": cpu_model(),
        "machine": platform.machine(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "governor": frequency_governor(),
        "max_mhz": (freq.max or freq.current) if freq else None,
        "affinity": proc.cpu_affinity() if hasattr(proc, "cpu_affinity") else None,
        "gpu": gpu_name(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "target": target_settings,
    }


def identity(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The part of a fingerprint that must match for latencies to carry over."""
    target = fingerprint.get("target") or {}
    return {**{k: fingerprint.get(k) for k in IDENTITY_KEYS},
            **{f"target.{k}": v for k, v in sorted(target.items()) if k not in TARGET_IGNORED}}


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable identity fields where the ``current`` fingerprint differs from ``recorded``."""
    a, b = identity(recorded), identity(current)
    return [f"{k} {a.get(k)!r} there, {b.get(k)!r} here" for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]
