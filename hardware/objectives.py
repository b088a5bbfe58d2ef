"""Built-in objectives: parameters, FLOPs, peak memory and latency on a target.

Each function returns an :class:`~evonas.core.objectives.Objective` whose source measures the
built network without training (``training_free=True``), so these objectives can screen
candidates and constraints on them are checked against the space before a search starts.
"""

from __future__ import annotations

from typing import Any, Sequence

from torch import nn

from evonas.core.objectives import MetricContext, Objective, interval_names
from hardware.fingerprint import environment_fingerprint
from evonas.mobilenet.costs import count_flops, count_params
from hardware.registry import get_target
from hardware.targets import LatencyMeasurement, Target


def _params(model: nn.Module, genome: Any, context: MetricContext) -> float:
    return float(count_params(model))


def _flops(model: nn.Module, genome: Any, context: MetricContext) -> float:
    return float(count_flops(model, tuple(context.input_shape)))


def params() -> Objective:
    """Trainable parameters (minimised)."""
    return Objective.minimize("params", "", _params, training_free=True)


def flops() -> Objective:
    """FLOPs of one forward pass at batch 1 (minimised; a multiply-add counts 2)."""
    return Objective.minimize("flops", "", _flops, training_free=True)


class LatencySource:
    """Latency of a network on ``target`` (median and IQR in ms), cached per genome string.

    Latency does not depend on the weights, so each genome is timed once. ``measurement``
    returns the record, with the environment fingerprint, that the run store keeps.
    """

    def __init__(self, target: Target):
        self.target = target
        self._cache: dict[str, Any] = {}
        self._reused: set[str] = set()
        self._fingerprint: dict[str, Any] | None = None

    def __call__(self, model: nn.Module, genome: Any, context: MetricContext) -> dict[str, float]:
        key = str(genome)
        if key not in self._cache:
            self._cache[key] = self.target.measure(model, tuple(context.input_shape))
        return _metrics(self._cache[key])

    def remeasure(self, models: Sequence[nn.Module], genomes: Sequence[Any], input_shape: tuple[int, ...]
                  ) -> list[dict[str, float]]:
        """Latencies of ``models`` measured again side by side (interleaved in the same windows)."""
        measured = self.target.measure_side_by_side(list(models), tuple(input_shape))
        for genome, lat in zip(genomes, measured):
            self._cache[str(genome)] = lat
        return [_metrics(lat) for lat in measured]

    def measurement(self, genome: Any, input_shape: tuple[int, ...]) -> dict[str, Any] | None:
        """The stored record of ``genome``'s latency, or ``None`` if it was not measured here."""
        lat = self._cache.get(str(genome))
        if lat is None or str(genome) in self._reused:
            return None
        if self._fingerprint is None:
            self._fingerprint = environment_fingerprint(self.target.settings())
        return {"target": self.target.name, "result": {**lat.as_dict(), "input_shape": list(input_shape)},
                "fingerprint": self._fingerprint}

    def reuse(self, genome: Any, record: dict[str, Any], input_shape: tuple[int, ...]) -> None:
        """Take ``genome``'s latency from a stored ``record`` if it was measured on this target at this shape."""
        result = record.get("result", {})
        if record.get("target") != self.target.name or list(result.get("input_shape", ())) != list(input_shape):
            return
        if all(k in result for k in ("median_ms", "iqr_ms", "repeats", "warmup", "outliers")):
            self._cache[str(genome)] = LatencyMeasurement.from_dict(result)
            self._reused.add(str(genome))

    def check(self, input_shape: tuple[int, ...], num_classes: int, space_config: Any) -> None:
        """Raise if a predicting target cannot price networks of this shape (a lookup table built for another)."""
        table = getattr(self.target, "table", None)
        if table is not None and hasattr(table, "check_network"):
            table.check_network(tuple(input_shape), num_classes, space_config)

    def __repr__(self) -> str:
        return f"LatencySource({self.target.name!r})"


def _metrics(lat: LatencyMeasurement) -> dict[str, float]:
    low, high = interval_names("latency_ms")
    return {"latency_ms": lat.median_ms, "latency_iqr_ms": lat.iqr_ms, low: lat.interval[0], high: lat.interval[1]}


def latency(target: str | Target = "edge-cpu", lut: str | None = None, force_lut: bool = False) -> Objective:
    """Latency in ms on ``target`` (a name such as 'edge-cpu', or a :class:`~hardware.targets.Target`).

    With ``lut``, latency is predicted from that lookup table (built with
    ``evonas profile build-lut``) instead of measured; the table must be for ``target``.
    """
    from evonas.core.errors import UserError

    resolved = get_target(target) if isinstance(target, str) else target
    if lut is not None:
        from hardware.lut import load_predictor

        predictor = load_predictor(lut, force_lut)
        if predictor.table.target != resolved.name:
            raise UserError(f"latency table '{lut}' was built for target {predictor.table.target!r}, the search "
                            f"asks for {resolved.name!r}; pass --target {predictor.table.target} or build a table for it")
        resolved = predictor
    return Objective.minimize("latency_ms", "ms", LatencySource(resolved), training_free=True)


class PeakMemorySource:
    """Peak memory (MB) of one inference on ``target``, measured in a child process."""

    def __init__(self, target: Target):
        self.target = target

    def __call__(self, model: nn.Module, genome: Any, context: MetricContext) -> float:
        value = self.target.peak_memory_mb(model, tuple(context.input_shape))
        if value is None:
            raise ValueError(f"target {self.target.name!r} does not measure peak memory")
        return float(value)


def peak_memory(target: str | Target = "onnx-cpu") -> Objective:
    """Peak inference memory in MB on ``target`` (minimised)."""
    resolved = get_target(target) if isinstance(target, str) else target
    return Objective.minimize("peak_memory_mb", "MB", PeakMemorySource(resolved), training_free=True)

