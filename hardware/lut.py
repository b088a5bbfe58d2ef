"""A calibrated lookup-table latency predictor for the MobileNetV3-like space.

A network is a stem, a chain of inverted-residual blocks and a head (pool + classifier; the
layers are described in :mod:`hardware.layers`). :func:`build_table` times every distinct layer
configuration of a space once on a target:
a block is (in_ch, out_ch, kernel, expand, stride, act, se, input resolution), a stem is
(in_ch, width, stride, resolution), a head (in_ch, classes, resolution). Summing a network's
entries double-counts per-call overhead and misses fusion across layers, so a whole-network
correction ``latency = a * sum + b * blocks + c`` is fitted by least squares on a sample of
measured networks. The table is saved as versioned JSON with the environment fingerprint it
was built in; :meth:`LatencyTable.load` refuses it on another machine or library version
unless forced.

For ONNX Runtime targets each layer is emitted directly as an ONNX graph
(:func:`hardware.layers.layers_to_onnx`), as a target's whole networks are.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from evonas.core.errors import UserError
from evonas.mobilenet.builder import build, init_weights
from evonas.mobilenet.space import Genome, MobileNetSpace, SpaceConfig
from hardware.fingerprint import differences, environment_fingerprint
from hardware.layers import (BlockSpec, LayerSpec, genome_layers, input_shape_of, layers_to_onnx, model_layers,
                             space_layers)
from hardware.registry import get_target
from hardware.targets import LatencyMeasurement, OnnxRuntimeCPU, Target, TimingProtocol

LUT_FORMAT = "evonas-latency-lut"
LUT_VERSION = 1



def entry_protocol(repeats: int = 30) -> TimingProtocol:
    """Timing of single layers: they are short and many, so a fixed count of timed runs, no time floor."""
    return TimingProtocol(warmup_min=10, warmup_max=100, repeats_min=repeats, min_seconds=0.0)


ENTRY_PROTOCOL = entry_protocol()


# -- timing --------------------------------------------------------------------------------------
ENTRY_REFERENCE_SHAPE = (3, 32, 32)
"""Single layers are compensated against the reference network at this input: a few-ms
reference for sub-ms layers keeps the build short, and one calibration serves every entry."""


def with_protocol(target: Target, protocol: TimingProtocol) -> Target:
    """A copy of ``target`` timing single layers under ``protocol`` (and, if it compensates drift,
    against the reference at :data:`ENTRY_REFERENCE_SHAPE`)."""
    other = copy.copy(target)
    other.protocol = protocol
    other.reference_shape = ENTRY_REFERENCE_SHAPE
    return other


def time_layer(target: Target, layer: LayerSpec) -> LatencyMeasurement:
    """Latency of one layer alone on ``target`` (ONNX Runtime targets: the emitted ONNX graph)."""
    shape = input_shape_of(layer)
    if isinstance(target, OnnxRuntimeCPU):
        return target.measure_onnx(layers_to_onnx([layer]), shape)
    module = layer.module()
    init_weights(module, torch.Generator().manual_seed(0))
    return target.measure(module.eval(), shape)


# -- the table -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatencyTable:
    """Per-layer latencies (ms) of one target, with the whole-network correction.

    Attributes:
        target: the target name it was built on.
        input_shape: network input (C, H, W).
        num_classes: classifier outputs.
        entries: layer key -> median latency (ms).
        correction: (a, b, c) with ``latency = a * sum(entries) + b * blocks + c``.
        fingerprint: environment it was built in (:func:`~hardware.fingerprint.environment_fingerprint`).
        space: the :class:`SpaceConfig` it covers, as a dict.
        calibration: how the correction was fitted (networks, seed, in-sample MAPE %).
        created_at: UNIX time of the build.
    """

    target: str
    input_shape: tuple[int, int, int]
    num_classes: int
    entries: dict[str, float]
    correction: tuple[float, float, float] = (1.0, 0.0, 0.0)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0

    # -- prediction
    def layer_sum(self, layers: Iterable[LayerSpec]) -> float:
        """Sum of the layers' entries (ms), uncorrected."""
        total = 0.0
        for layer in layers:
            value = self.entries.get(layer.key)
            if value is None:
                c, h, w = self.input_shape
                raise UserError(f"latency table has no entry for {layer.key}: it covers input {c}x{h}x{w}, "
                                f"{self.num_classes} classes and its own space; build one for this network "
                                f"with 'evonas profile build-lut'")
            total += value
        return total

    def predict_layers(self, layers: Sequence[LayerSpec]) -> float:
        """Corrected latency (ms) of a network given as its layers."""
        a, b, c = self.correction
        blocks = sum(isinstance(layer, BlockSpec) for layer in layers)
        return a * self.layer_sum(layers) + b * blocks + c

    def predict(self, genome: Genome, config: SpaceConfig) -> float:
        """Corrected latency (ms) of ``genome`` built with ``config`` at the table's input shape."""
        return self.predict_layers(genome_layers(genome, config, self.input_shape, self.num_classes))

    def check_network(self, input_shape: Sequence[int], num_classes: int, config: SpaceConfig | None = None) -> None:
        """Raise :class:`UserError` unless the table is for this input shape, class count (and space)."""
        if config is not None and _as_json(dataclasses.asdict(config)) != _as_json(self.space):
            raise UserError(f"latency table covers another search space ({self.space}); build one for this space "
                            f"with 'evonas profile build-lut --input-shape {','.join(map(str, input_shape))} ...'")
        if tuple(input_shape) != self.input_shape or num_classes != self.num_classes:
            have = "x".join(map(str, self.input_shape))
            want = "x".join(map(str, input_shape))
            raise UserError(f"latency table is for input {have} with {self.num_classes} classes, the networks here "
                            f"take {want} with {num_classes}; build one with 'evonas profile build-lut "
                            f"--input-shape {','.join(map(str, input_shape))} --num-classes {num_classes}'")

    # -- files
    def to_dict(self) -> dict[str, Any]:
        return {"format": LUT_FORMAT, "version": LUT_VERSION, **dataclasses.asdict(self),
                "input_shape": list(self.input_shape), "correction": list(self.correction)}

    def save(self, path: str | Path) -> Path:
        """Write the table as JSON; never overwrites.

        Raises:
            UserError: ``path`` exists or cannot be written.
        """
        path = Path(path)
        try:
            with path.open("x") as f:
                json.dump(self.to_dict(), f, indent=1, sort_keys=True)
        except FileExistsError:
            raise UserError(f"'{path}' already exists; choose another --out (a table is never overwritten)") from None
        except OSError as exc:
            raise UserError(f"cannot write latency table '{path}': {exc.strerror}") from None
        return path

    @classmethod
    def load(cls, path: str | Path, force: bool = False) -> "LatencyTable":
        """Read a table and check it was built in this environment.

        Args:
            path: the JSON file written by :meth:`save`.
            force: accept a table whose fingerprint differs from this machine's (a warning
                is issued instead of an error).

        Raises:
            UserError: unreadable file, unknown format or version, or (without ``force``)
                a table built on another machine, library version or target definition.
        """
        path = Path(path)
        data = _read_json(path)
        if data.get("format") != LUT_FORMAT:
            raise UserError(f"'{path}' is not an evonas latency table (build one with 'evonas profile build-lut')")
        if data.get("version") != LUT_VERSION:
            raise UserError(f"latency table '{path}' has format version {data.get('version')}, this evonas reads "
                            f"version {LUT_VERSION}; rebuild it with 'evonas profile build-lut'")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        table = cls(**{**values, "input_shape": tuple(values["input_shape"]),
                       "correction": tuple(values["correction"])})
        table.check_environment(path, force)
        return table

    def check_environment(self, path: Path, force: bool) -> None:
        """Refuse (or with ``force``, warn about) a table built in another environment."""
        diffs = differences(self.fingerprint, environment_fingerprint(_settings_or_name(self.target)))
        if diffs and not force:
            raise UserError(f"latency table '{path}' was built on another machine, library version or target "
                            f"definition ({'; '.join(diffs)}); rebuild it here with 'evonas profile build-lut "
                            f"--target {self.target} ...', or pass --force-lut to use it anyway")
        for diff in diffs:
            warnings.warn(f"latency table '{path}' used with --force-lut despite: {diff}", stacklevel=2)


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _settings_or_name(target: str) -> dict[str, Any]:
    try:
        return get_target(target).settings()
    except UserError:  # e.g. a gpu table inspected on a CPU-only machine: compare the machine only
        return {"name": target}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read latency table '{path}': {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"latency table '{path}' is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise UserError(f"'{path}' is not an evonas latency table (build one with 'evonas profile build-lut')")
    return data


# -- building --------------------------------------------------------------------------------------
Progress = Callable[[str, int, int], None]


def build_table(target: Target, config: SpaceConfig, input_shape: tuple[int, int, int], num_classes: int,
                calibration: int = 30, seed: int = 0, entry_protocol: TimingProtocol = ENTRY_PROTOCOL,
                progress: Progress | None = None, passes: int = 3) -> LatencyTable:
    """Time every layer of the space on ``target``, then fit the whole-network correction.

    Args:
        target: where to time (the table is only valid there).
        config: the space whose layers are tabulated.
        input_shape: network input (C, H, W).
        num_classes: classifier outputs.
        calibration: random networks measured whole (with the target's own protocol) to fit
            the correction; at least 3.
        seed: seed of the calibration sample.
        entry_protocol: timing protocol of the single layers.
        progress: called as ``progress(phase, done, total)``.
        passes: each layer is timed once per pass, the passes spread over the whole build,
            and its entry is the smallest of its pass medians: interference from other
            processes only ever adds time, and rarely hits the same layer in every pass.

    Raises:
        UserError: fewer than 3 calibration networks.
    """
    if calibration < 3 or passes < 1:
        raise UserError(f"--calibration needs at least 3 networks and --passes at least 1, got {calibration}, {passes}")
    layers = space_layers(config, input_shape, num_classes)
    entry_target = with_protocol(target, entry_protocol)
    entries: dict[str, float] = {}
    for p in range(passes):
        for i, layer in enumerate(layers):
            ms = time_layer(entry_target, layer).median_ms
            entries[layer.key] = min(ms, entries.get(layer.key, ms))
            if progress:
                progress("layers", p * len(layers) + i + 1, passes * len(layers))
    table = LatencyTable(target.name, tuple(input_shape), num_classes, entries,
                         fingerprint=environment_fingerprint(target.settings()),
                         space=dataclasses.asdict(config), created_at=time.time())
    return calibrate(table, target, config, calibration, seed, progress)


def calibrate(table: LatencyTable, target: Target, config: SpaceConfig, n: int, seed: int,
              progress: Progress | None = None) -> LatencyTable:
    """Fit ``latency = a * sum + b * blocks + c`` on ``n`` random networks measured on ``target``."""
    space, rng = MobileNetSpace(config), np.random.default_rng(np.random.SeedSequence([seed, 7]))
    rows, measured = [], []
    for i in range(n):
        genome = space.sample(rng)
        model = build(genome, config, table.input_shape, table.num_classes, torch.Generator().manual_seed(i))
        rows.append([table.layer_sum(model_layers(model, table.input_shape)), genome.num_blocks, 1.0])
        measured.append(target.measure(model, table.input_shape).median_ms)
        if progress:
            progress("calibration", i + 1, n)
    x, y = np.asarray(rows), np.asarray(measured)
    coef = fit_correction(x, y)
    mape = float(np.mean(np.abs(x @ coef - y) / y) * 100)
    return dataclasses.replace(table, correction=tuple(float(v) for v in coef),
                               calibration={"networks": n, "seed": seed, "in_sample_mape_percent": mape,
                                            "layer_sum_ms": x[:, 0].tolist(), "measured_ms": measured})


def fit_correction(x: np.ndarray, y: np.ndarray, ridge: float = 1e-2) -> np.ndarray:
    """Coefficients of ``y ~ x @ coef`` (columns: layer sum, blocks, 1) minimising relative error.

    Rows are divided by ``y`` so the fit minimises relative (percentage) error, as the
    predictor is judged; a small ridge penalty on standardised columns pulls the
    coefficients toward the plain sum (1, 0, 0), so a small or collinear calibration
    sample cannot produce wild corrections.
    """
    rel = x / y[:, None]
    scale = np.sqrt(np.mean(rel ** 2, axis=0))
    strength = np.sqrt(ridge * len(y))
    a = np.vstack([rel / scale, strength * np.eye(3)])
    b = np.concatenate([np.ones(len(y)), strength * np.array([1.0, 0.0, 0.0]) * scale])
    return np.linalg.lstsq(a, b, rcond=None)[0] / scale


# -- as a target -------------------------------------------------------------------------------------
@dataclass
class PredictedLatency(Target):
    """A target-like object predicting latency from a :class:`LatencyTable` instead of measuring.

    Its :meth:`measure` returns the prediction as a :class:`LatencyMeasurement` with IQR 0
    and 0 repeats (nothing was timed).
    """

    table: LatencyTable
    path: str = ""

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"predicted:{self.table.target}"

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"lookup-table prediction for target '{self.table.target}' from {self.path or 'a table'}"

    def measure(self, model, input_shape) -> LatencyMeasurement:
        if tuple(input_shape) != self.table.input_shape:
            self.table.check_network(input_shape, self.table.num_classes)
        return LatencyMeasurement(self.table.predict_layers(model_layers(model, tuple(input_shape))), 0.0, 0, 0, 0)

    def settings(self) -> dict:
        return {"name": self.name, "description": self.description, "batch": 1, "lut": self.path,
                "lut_target": self.table.target, "lut_created_at": self.table.created_at,
                "lut_fingerprint": self.table.fingerprint, "correction": list(self.table.correction)}


def load_predictor(path: str | Path, force: bool = False) -> PredictedLatency:
    """A :class:`PredictedLatency` from the table at ``path`` (see :meth:`LatencyTable.load`)."""
    return PredictedLatency(LatencyTable.load(path, force), str(path))
