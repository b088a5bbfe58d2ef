"""Child process of :mod:`hardware.memory`: load one model, run it once, print the peak (JSON).

Usage: ``python _memprobe.py onnx PATH C,H,W THREADS PROVIDERS`` or
``python _memprobe.py torch PATH C,H,W`` (run as a script, so torch is only imported when needed).
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import numpy as np


def _status_kb(field: str) -> int | None:
    status = Path("/proc/self/status")
    if not status.is_file():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _reset_peak() -> int:
    """Reset the high-water mark where possible; return the baseline in KB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # no /proc, or not writable: the baseline is the peak so far (see hardware.memory)
        return _peak_kb()
    rss = _status_kb("VmRSS")
    return _peak_kb() if rss is None else rss


def _peak_kb() -> int:
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS reports bytes


def main(argv: list[str]) -> None:
    kind, path, shape = argv[0], argv[1], tuple(int(d) for d in argv[2].split(","))
    x = np.zeros((1, *shape), np.float32)
    if kind == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(argv[3])
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        base = _reset_peak()
        sess = ort.InferenceSession(path, options, providers=argv[4].split(","))
        sess.run(None, {sess.get_inputs()[0].name: x})
    else:
        import torch

        base = _reset_peak()
        model = torch.load(path, weights_only=False)
        with torch.inference_mode():
            model(torch.from_numpy(x))
    print(json.dumps({"peak_mb": max(0, _peak_kb() - base) / 1024}))


if __name__ == "__main__":
    main(sys.argv[1:])
