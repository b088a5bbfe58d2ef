"""Hardware costs: targets (where a network runs), metrics, fingerprints and latency prediction.

Modules: :mod:`hardware.targets` (targets and the timing protocol), :mod:`hardware.gpu`,
:mod:`hardware.external` (user-owned targets), :mod:`hardware.objectives` (built-in objectives),
:mod:`hardware.memory` (peak memory), :mod:`hardware.fingerprint`, :mod:`hardware.lut`
(lookup-table predictor) and :mod:`hardware.ofa_lut` (OFA YAML tables).
"""

from hardware.fingerprint import environment_fingerprint
from evonas.mobilenet.costs import count_flops, count_params
from hardware.targets import TARGETS, InferenceProfile, LatencyMeasurement, Target, TimingProtocol, get_target

__all__ = ["TARGETS", "InferenceProfile", "LatencyMeasurement", "Target", "TimingProtocol", "count_flops",
           "count_params", "environment_fingerprint", "get_target"]
