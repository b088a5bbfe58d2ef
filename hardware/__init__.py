"""Hardware costs: targets (where a network runs), metrics, fingerprints and latency prediction.

Modules: :mod:`hardware.targets` (targets and the timing protocol), :mod:`hardware.gpu`,
:mod:`hardware.registry` (targets by name), :mod:`hardware.external` (user-owned targets),
:mod:`hardware.objectives` (built-in objectives), :mod:`hardware.memory` (peak memory),
:mod:`hardware.fingerprint`, :mod:`hardware.lut` (lookup-table predictor) and
:mod:`hardware.ofa_lut` (OFA YAML tables).
"""

from hardware.fingerprint import environment_fingerprint
from evonas.mobilenet.costs import count_flops, count_params
from hardware.registry import TARGETS, get_target
from hardware.targets import InferenceProfile, LatencyMeasurement, Target, TimingProtocol

__all__ = ["TARGETS", "InferenceProfile", "LatencyMeasurement", "Target", "TimingProtocol", "count_flops",
           "count_params", "environment_fingerprint", "get_target"]
