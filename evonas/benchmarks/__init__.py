"""Benchmark problems: table- and surrogate-backed, so a search runs in seconds on a CPU.

- :mod:`evonas.benchmarks.nb201`: the NAS-Bench-201 cell space over a table of metrics.
- :mod:`evonas.benchmarks.ofa`: the OFA MobileNetV3 space with OFA's MLP accuracy predictor
  and the Samsung Note10 latency lookup tables.

Both are ordinary :class:`~evonas.core.problem.Problem` objects: the driver, strategies and run
store do not know they face a benchmark.
"""
