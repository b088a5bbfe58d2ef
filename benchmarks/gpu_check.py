"""CUDA training under ASHA and the ``gpu`` / ``onnx-gpu`` targets, on a machine with a GPU (issue 28).

    python benchmarks/gpu_check.py [--data ../shared/data/mnist] [--out bench_out/gpu_check]

Runs three real searches through the CLI, each in its own run directory under ``--out``:
LEMONADE with ``--schedule asha`` training on ``--device cuda`` (objectives accuracy and
parameters), then a short search timed by the ``gpu`` target and one by ``onnx-gpu``. Prints
each command's wall seconds, its front and the median evaluation time, and writes them to
``results.json``. CI has no GPU: without CUDA the script says so in one line and exits 2
(the tests skip the GPU cases with that reason).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def run(args: list[str]) -> dict:
    """One ``evonas`` command: its wall seconds, and its front and history read back as JSON."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "evonas", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    out = args[args.index("--out") + 1]
    front = json.loads(subprocess.run([sys.executable, "-m", "evonas", "front", out, "--format", "json"],
                                      capture_output=True, text=True, check=True).stdout)
    history = json.loads(subprocess.run([sys.executable, "-m", "evonas", "history", out, "--format", "json"],
                                        capture_output=True, text=True, check=True).stdout)
    evals = sorted(h["eval_seconds"] for h in history if h.get("eval_seconds") is not None)
    return {"command": ["evonas", *args], "seconds": seconds, "front": [f["objectives"] for f in front],
            "trials": len(history), "median_eval_seconds": evals[len(evals) // 2] if evals else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/mnist")
    ap.add_argument("--out", default="bench_out/gpu_check")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU on this machine; run it where `torch.cuda.is_available()` is True",
              file=sys.stderr)
        raise SystemExit(2)
    out = Path(args.out)
    if out.exists():
        print(f"gpu_check: --out {out} already exists; choose a new folder", file=sys.stderr)
        raise SystemExit(2)
    common = ["--data", args.data, "--resolution", "14", "--seed", "0", "--no-progress", "--quiet"]
    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "runs": {
        "asha_cuda": run(["search", "--device", "cuda", "--schedule", "asha", "--min-epochs", "0.25",
                          "--max-epochs", "2.25", "--eta", "3", "--objectives", "accuracy,params",
                          "--evaluations", "30", *common, "--out", str(out / "asha_cuda")]),
        "gpu_target": run(["search", "--device", "cuda", "--target", "gpu", "--evaluations", "8", "--epochs", "1",
                           *common, "--out", str(out / "gpu_target")]),
        "onnx_gpu_target": run(["search", "--device", "cuda", "--target", "onnx-gpu", "--evaluations", "8",
                                "--epochs", "1", *common, "--out", str(out / "onnx_gpu_target")]),
    }}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
