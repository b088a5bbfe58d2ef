"""Benchmark problems: table-, surrogate- and function-backed, so a search runs in seconds on a CPU.

(Distinct from the repository's ``benchmarks/`` scripts, which measure evonas, and from the
``evonas benchmark`` command, which compares strategies on these problems: ``evonas.api.compare``.)

- :mod:`evonas.problems.nb201`: the NAS-Bench-201 cell space over a table of metrics.
- :mod:`evonas.problems.ofa`: the OFA MobileNetV3 space with OFA's MLP accuracy predictor
  and the Samsung Note10 latency lookup tables.
- :mod:`evonas.problems.grid`: pymoo's ZDT and DTLZ test functions on an integer grid.

All are ordinary :class:`~evonas.core.problem.Problem` objects: the driver, strategies and run
store do not know they face a benchmark.
"""
