"""Hardware costs: targets (where a network runs), metrics (params, FLOPs) and latency measurement."""

from hardware.metrics import count_flops, count_params
from hardware.targets import TARGETS, LatencyMeasurement, Target, get_target

__all__ = ["TARGETS", "LatencyMeasurement", "Target", "count_flops", "count_params", "get_target"]
