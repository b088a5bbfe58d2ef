"""The MobileNetV3-like space as layers, and those layers written straight to ONNX.

A network is a stem, a chain of inverted-residual blocks and a head (pool + classifier); a
:data:`LayerSpec` describes one of them at its input resolution. The latency table times and
sums them (:mod:`hardware.lut`), and :func:`onnx_for_timing` writes a whole
:class:`~evonas.mobilenet.builder.MobileNetLike` to ONNX from its layers and its own weights
(BatchNorm folded into the convolutions). The emitted graph has exactly the operators and
weight shapes torch's exporter writes for these modules (a test checks it against
:func:`hardware.onnx_io.to_onnx`, and its outputs against torch's), and takes milliseconds where
torch's dynamo exporter takes seconds, which matters because a target exports every candidate
it times. Deployment bundles still go through torch's exporter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence, Union

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from evonas.mobilenet.builder import InvertedResidual, MobileNetLike, SqueezeExcite, make_divisible
from evonas.mobilenet.space import Activation, Genome, SpaceConfig
from hardware.onnx_io import INPUT_NAME, OPSET, OUTPUT_NAME, to_onnx


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
    """A tiny ONNX graph writer for the layers above.

    Weights come from ``weights`` in the order the layers ask for them (a model's own, see
    :func:`model_weights`), else from ``rng`` (values do not change latency).
    """

    def __init__(self, rng: np.random.Generator, weights: Iterator[np.ndarray] | None = None):
        self.rng, self.weights, self.nodes, self.initializers, self._n = rng, weights, [], [], 0

    def _name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, shape: tuple[int, ...]) -> str:
        name = self._name("w")
        if self.weights is None:
            array = (0.1 * self.rng.standard_normal(shape)).astype(np.float32)
        else:
            array = next(self.weights, None)
            if array is None:
                raise ValueError(f"fewer weights than the layers use (none left for {name})")
            if array.shape != shape:
                raise ValueError(f"weight {name} has shape {array.shape}, the layer needs {shape}")
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


def layers_to_onnx(layers: Sequence[LayerSpec], seed: int = 0,
                   weights: Iterator[np.ndarray] | None = None) -> bytes:
    """Consecutive ``layers`` as one checked ONNX model (input ``input``, batch 1), serialised.

    Args:
        layers: the layers, each taking the previous one's output.
        seed: seeds the random weights used when ``weights`` is None.
        weights: every weight and bias in the order the layers use them (:func:`model_weights`).
            The output is then named ``logits`` when the last layer is the head.

    Raises:
        ValueError: ``weights`` has too few arrays, too many, or one of the wrong shape.
    """
    g = _OnnxGraph(np.random.default_rng(seed), weights)
    y = INPUT_NAME
    for layer in layers:
        y = layer.emit(g, y)
    if weights is not None:
        if next(weights, None) is not None:
            raise ValueError("more weights than the layers use")
        if isinstance(layers[-1], HeadSpec):
            g.nodes[-1].output[0] = y = OUTPUT_NAME
    graph = helper.make_graph(g.nodes, "layers", [helper.make_tensor_value_info(
        INPUT_NAME, TensorProto.FLOAT, [1, *input_shape_of(layers[0])])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, *output_shape_of(layers[-1])])], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def model_weights(model: MobileNetLike) -> Iterator[np.ndarray]:
    """A built network's weights in the order :func:`layers_to_onnx` asks for them, each
    BatchNorm folded into the convolution before it by torch's own fusion (as
    :func:`~evonas.mobilenet.builder.fold_batchnorm` does, without copying the network)."""
    with torch.no_grad():
        yield from _folded(model.stem[0], model.stem[1])
        for block in (m for m in model.stages.modules() if isinstance(m, InvertedResidual)):
            yield from _folded(block.expand_conv, block.expand_bn)
            yield from _folded(block.dw_conv, block.dw_bn)
            if isinstance(block.se, SqueezeExcite):
                for conv in (block.se.reduce, block.se.expand):
                    yield from (_array(conv.weight), _array(conv.bias))
            yield from _folded(block.project_conv, block.project_bn)
        yield from (_array(model.classifier.weight), _array(model.classifier.bias))


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                        bn.weight, bn.bias)
    return _array(weight), _array(bias)


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)


def onnx_for_timing(model: nn.Module, input_shape: tuple[int, int, int]) -> bytes:
    """The batch-1 ONNX graph a target times for ``model`` at ``input_shape`` (C, H, W).

    A :class:`~evonas.mobilenet.builder.MobileNetLike` (exactly that class: a subclass may
    change ``forward``) is emitted from its layers and its own weights; any other network goes
    through torch's exporter (:func:`hardware.onnx_io.to_onnx`).
    """
    if type(model) is MobileNetLike:
        return layers_to_onnx(model_layers(model, input_shape), weights=model_weights(model))
    return to_onnx(model, input_shape)
