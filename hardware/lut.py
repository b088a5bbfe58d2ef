"""A calibrated lookup-table latency predictor for the MobileNetV3-like space.

A network is a stem, a chain of inverted-residual blocks and a head (pool + classifier).
:func:`build_table` times every distinct layer configuration of a space once on a target:
a block is (in_ch, out_ch, kernel, expand, stride, act, se, input resolution), a stem is
(in_ch, width, stride, resolution), a head (in_ch, classes, resolution). Summing a network's
entries double-counts per-call overhead and misses fusion across layers, so a whole-network
correction ``latency = a * sum + b * blocks + c`` is fitted by least squares on a sample of
measured networks. The table is saved as versioned JSON with the environment fingerprint it
was built in; :meth:`LatencyTable.load` refuses it on another machine or library version
unless forced.

For ONNX Runtime targets the layers are emitted directly as ONNX graphs (the same operators
torch's exporter produces for these modules, BatchNorm folded into the convolutions; a test
checks they match), which is ~100x faster than exporting each layer through torch.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Union

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from evonas.mobilenet.builder import InvertedResidual, MobileNetLike, SqueezeExcite, build, init_weights, make_divisible
from evonas.core.errors import UserError
from evonas.mobilenet.space import Activation, Genome, MobileNetSpace, SpaceConfig
from hardware.fingerprint import differences, environment_fingerprint
from hardware.onnx_io import OPSET
from hardware.registry import get_target
from hardware.targets import LatencyMeasurement, OnnxRuntimeCPU, Target, TimingProtocol

LUT_FORMAT = "evonas-latency-lut"
LUT_VERSION = 1



def entry_protocol(repeats: int = 30) -> TimingProtocol:
    """Timing of single layers: they are short and many, so a fixed count of timed runs, no time floor."""
    return TimingProtocol(warmup_min=10, warmup_max=100, repeats_min=repeats, min_seconds=0.0)


ENTRY_PROTOCOL = entry_protocol()


def _out(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


# -- layer specifications -------------------------------------------------------------------------
@dataclass(frozen=True)
class StemSpec:
    """3x3 stem convolution + BatchNorm + h-swish."""

    in_ch: int
    out_ch: int
    stride: int
    height: int
    width: int

    @property
    def key(self) -> str:
        return f"stem-in:{self.height}x{self.width}x{self.in_ch}-out:{self.out_ch}-s:{self.stride}"

    def module(self) -> nn.Module:
        return nn.Sequential(nn.Conv2d(self.in_ch, self.out_ch, 3, self.stride, padding=1, bias=False),
                             nn.BatchNorm2d(self.out_ch), nn.Hardswish())

    def emit(self, g: "_OnnxGraph", x: str) -> str:
        return g.op("HardSwish", [g.conv(x, self.in_ch, self.out_ch, 3, self.stride)])


@dataclass(frozen=True)
class BlockSpec:
    """One :class:`~evonas.mobilenet.builder.InvertedResidual` at a given input resolution."""

    in_ch: int
    out_ch: int
    kernel: int
    expand: int
    stride: int
    act: str
    se: bool
    height: int
    width: int

    @property
    def key(self) -> str:
        return (f"block-in:{self.height}x{self.width}x{self.in_ch}-out:{self.out_ch}-k:{self.kernel}"
                f"-e:{self.expand}-s:{self.stride}-act:{self.act}-se:{int(self.se)}")

    def module(self) -> nn.Module:
        return InvertedResidual(self.in_ch, self.out_ch, self.kernel, self.expand, self.stride, self.act, self.se)

    def emit(self, g: "_OnnxGraph", x: str) -> str:
        act = "HardSwish" if self.act == Activation.HSWISH else "Relu"
        mid = self.in_ch * self.expand
        y = g.op(act, [g.conv(x, self.in_ch, mid, 1)])
        y = g.op(act, [g.conv(y, mid, mid, self.kernel, self.stride, groups=mid)])
        if self.se:
            squeezed = make_divisible(mid / 4)
            s = g.op("ReduceMean", [y, g.axes(2, 3)], keepdims=1)
            s = g.op("Relu", [g.conv(s, mid, squeezed, 1)])
            s = g.op("HardSigmoid", [g.conv(s, squeezed, mid, 1)], alpha=1.0 / 6)
            y = g.op("Mul", [y, s])
        y = g.conv(y, mid, self.out_ch, 1)
        return g.op("Add", [x, y]) if self.stride == 1 and self.in_ch == self.out_ch else y


class _Head(nn.Module):
    """Global average pool + linear classifier, as in :class:`~evonas.mobilenet.builder.MobileNetLike`."""

    def __init__(self, in_ch: int, classes: int):
        super().__init__()
        self.classifier = nn.Linear(in_ch, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(x.mean(dim=(2, 3)), 1))


@dataclass(frozen=True)
class HeadSpec:
    """Global average pool + flatten + linear classifier."""

    in_ch: int
    classes: int
    height: int
    width: int

    @property
    def key(self) -> str:
        return f"head-in:{self.height}x{self.width}x{self.in_ch}-classes:{self.classes}"

    def module(self) -> nn.Module:
        return _Head(self.in_ch, self.classes)

    def emit(self, g: "_OnnxGraph", x: str) -> str:
        pooled = g.op("ReduceMean", [x, g.axes(2, 3)], keepdims=0)  # (1, C): the exporter drops the flatten
        return g.op("Gemm", [pooled, g.const((self.classes, self.in_ch)), g.const((self.classes,))],
                    alpha=1.0, beta=1.0, transB=1)


LayerSpec = Union[StemSpec, BlockSpec, HeadSpec]


def input_shape_of(spec: LayerSpec) -> tuple[int, int, int]:
    """(C, H, W) of a layer's input."""
    return spec.in_ch, spec.height, spec.width


def output_shape_of(spec: LayerSpec) -> tuple[int, ...]:
    """Shape of a layer's output without the batch: (C, H, W), or (classes,) for the head."""
    if isinstance(spec, HeadSpec):
        return (spec.classes,)
    return spec.out_ch, _out(spec.height, spec.stride), _out(spec.width, spec.stride)


# -- a network as layers ---------------------------------------------------------------------------
def genome_layers(genome: Genome, config: SpaceConfig, input_shape: tuple[int, int, int],
                  num_classes: int) -> list[LayerSpec]:
    """The layers of ``genome`` built by :func:`evonas.mobilenet.builder.build` at ``input_shape``."""
    c, h, w = input_shape
    layers: list[LayerSpec] = [StemSpec(c, genome.stem, config.stem_stride, h, w)]
    h, w, ch = _out(h, config.stem_stride), _out(w, config.stem_stride), genome.stem
    for stage, stride in zip(genome.stages, config.strides):
        for j, b in enumerate(stage.blocks):
            s = stride if j == 0 else 1
            layers.append(BlockSpec(ch, stage.width, b.kernel, b.expand, s, stage.act, stage.se, h, w))
            h, w, ch = _out(h, s), _out(w, s), stage.width
    layers.append(HeadSpec(ch, num_classes, h, w))
    return layers


def model_layers(model: MobileNetLike, input_shape: tuple[int, int, int]) -> list[LayerSpec]:
    """The layers of a built :class:`~evonas.mobilenet.builder.MobileNetLike` (same as :func:`genome_layers`)."""
    c, h, w = input_shape
    conv = model.stem[0]
    stride = conv.stride[0]
    layers: list[LayerSpec] = [StemSpec(c, conv.out_channels, stride, h, w)]
    h, w = _out(h, stride), _out(w, stride)
    for block in (m for m in model.stages.modules() if isinstance(m, InvertedResidual)):
        s, in_ch = block.dw_conv.stride[0], block.expand_conv.in_channels
        layers.append(BlockSpec(in_ch, block.project_conv.out_channels, block.dw_conv.kernel_size[0],
                                block.dw_conv.in_channels // in_ch, s,
                                Activation.HSWISH if isinstance(block.expand_act, nn.Hardswish) else Activation.RELU,
                                isinstance(block.se, SqueezeExcite), h, w))
        h, w = _out(h, s), _out(w, s)
    layers.append(HeadSpec(model.classifier.in_features, model.classifier.out_features, h, w))
    return layers


def space_layers(config: SpaceConfig, input_shape: tuple[int, int, int], num_classes: int) -> list[LayerSpec]:
    """Every distinct layer any genome of the space can contain, in a stable order."""
    c, h, w = input_shape
    layers: list[LayerSpec] = [StemSpec(c, s, config.stem_stride, h, w) for s in config.stem_widths]
    h, w = _out(h, config.stem_stride), _out(w, config.stem_stride)
    inputs: tuple[int, ...] = config.stem_widths
    for widths, stride in zip(config.stage_widths, config.strides):
        h2, w2 = _out(h, stride), _out(w, stride)
        for out_ch in widths:
            for k in config.kernels:
                for e in config.expands:
                    for act in Activation:
                        for se in (False, True):
                            layers += [BlockSpec(i, out_ch, k, e, stride, act, se, h, w) for i in inputs]
                            if config.max_depth > 1:
                                layers.append(BlockSpec(out_ch, out_ch, k, e, 1, act, se, h2, w2))
        h, w, inputs = h2, w2, widths
    layers += [HeadSpec(i, num_classes, h, w) for i in inputs]
    return list(dict.fromkeys(layers))


# -- ONNX emission ---------------------------------------------------------------------------------
class _OnnxGraph:
    """A tiny ONNX graph writer for the layers above (random weights: values do not change latency)."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.nodes, self.initializers, self._n = rng, [], [], 0

    def _name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, shape: tuple[int, ...]) -> str:
        name = self._name("w")
        array = (0.1 * self.rng.standard_normal(shape)).astype(np.float32)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def axes(self, *axes: int) -> str:
        """An int64 initializer holding ``axes`` (a reduction's axes are an input since opset 18)."""
        name = self._name("axes")
        self.initializers.append(numpy_helper.from_array(np.array(axes, dtype=np.int64), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        out = self._name(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> str:
        return self.op("Conv", [x, self.const((cout, cin // groups, k, k)), self.const((cout,))],
                       dilations=[1, 1], group=groups, kernel_shape=[k, k], pads=[k // 2] * 4,
                       strides=[stride, stride])


def layers_to_onnx(layers: Sequence[LayerSpec], seed: int = 0) -> bytes:
    """Consecutive ``layers`` as one ONNX model (input ``input``, batch 1), serialised."""
    g = _OnnxGraph(np.random.default_rng(seed))
    y = "input"
    for layer in layers:
        y = layer.emit(g, y)
    graph = helper.make_graph(g.nodes, "layers", [helper.make_tensor_value_info(
        "input", TensorProto.FLOAT, [1, *input_shape_of(layers[0])])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, *output_shape_of(layers[-1])])], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


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
