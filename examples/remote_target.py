"""Example: plug a target you own (a board, a phone, a server) into evonas.

evonas exports each network to an ONNX file and hands its path to your target's
``latency_ms(onnx_path)``, which returns a latency in ms or the per-run timings it took.
Here the "remote device" is a separate Python process running ONNX Runtime (a stand-in for
``scp`` + ``ssh board python3 run.py`` or ``adb push`` + ``adb shell``): it loads the file,
warms up, times ``runs`` inferences and prints the timings as JSON.

Profile two random networks with it::

    python examples/remote_target.py --random 2 --input-shape 3,64,64

or use it from the CLI (the module must be importable)::

    PYTHONPATH=examples evonas profile --target remote_target:RemoteOnnxTarget --random 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

# The program the "device" runs: argv = ONNX path, number of timed runs.
DEVICE_PROGRAM = """
import json, sys, time
import numpy as np, onnxruntime as ort
path, runs = sys.argv[1], int(sys.argv[2])
options = ort.SessionOptions()
options.intra_op_num_threads = 1
sess = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
feed = {inp.name: np.zeros(inp.shape, np.float32)}
for _ in range(10):
    sess.run(None, feed)
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    sess.run(None, feed)
    times.append((time.perf_counter() - t0) * 1e3)
print(json.dumps(times))
"""

import evonas  # noqa: E402  (after the device's program text)


class RemoteOnnxTarget(evonas.ExternalTarget):
    """Times the ONNX file on a "device" reached through a command (here: a local subprocess).

    Args:
        runs: timed inferences per network on the device.
        command: how to start the device program; the ONNX path and ``runs`` are appended.
            For a real board this would copy the file over and run the program there.
    """

    name = "remote-example"
    description = "example remote device: ONNX Runtime CPU, 1 thread, in a separate process"

    def __init__(self, runs: int = 30, command: tuple[str, ...] = (sys.executable, "-c", DEVICE_PROGRAM)):
        self.runs = runs
        self.command = command

    def latency_ms(self, onnx_path: Path) -> list[float]:
        done = subprocess.run([*self.command, str(onnx_path), str(self.runs)], capture_output=True, text=True,
                              check=True, timeout=600)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def settings(self) -> dict:
        return {**super().settings(), "runs": self.runs, "command": list(self.command[:2])}


def main() -> None:
    p = argparse.ArgumentParser(description="profile random networks on the example remote target")
    p.add_argument("--random", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-shape", default="3,64,64", help="C,H,W")
    args = p.parse_args()
    shape = tuple(int(v) for v in args.input_shape.split(","))
    config = evonas.SpaceConfig.for_resolution(min(shape[1:]))
    rng = np.random.default_rng(args.seed)
    target = RemoteOnnxTarget()
    for genome in (evonas.MobileNetSpace(config).sample(rng) for _ in range(args.random)):
        model = evonas.build_network(genome, config, shape, num_classes=10).eval()
        latency = target.measure(model, shape)
        print(json.dumps({"genome": str(genome), "target": target.name, "input_shape": list(shape),
                          "params": sum(w.numel() for w in model.parameters()),
                          "latency_ms": {"median": latency.median_ms, "iqr": latency.iqr_ms}}))


if __name__ == "__main__":
    main()
