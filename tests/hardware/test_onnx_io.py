"""The two ONNX writers on every option of the space: torch's dynamo exporter and the emitter.

One network whose stages cover ReLU and h-swish, with and without squeeze-excitation, and every
depthwise kernel, exported at batch 1 and with a dynamic batch (what bundles ship): the full ONNX
checker passes, ONNX Runtime matches torch, and no DeprecationWarning is raised. The graph a
target times (emitted from the layers and the model's weights) has the exported graph's operators
and weight shapes, and the same outputs.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch

from evonas.engine.export import check_parity
from evonas.mobilenet.builder import build
from evonas.mobilenet.space import Activation, Block, MobileNetSpace, SpaceConfig
from hardware.layers import genome_layers, layers_to_onnx, model_layers, model_weights, onnx_for_timing, space_layers
from hardware.onnx_io import BATCH_AXIS, INPUT_NAME, OPSET, OUTPUT_NAME, to_onnx
from conftest import trained_batchnorm

SHAPE = (3, 32, 32)
CONFIG = SpaceConfig.for_resolution(32)
OPTIONS = list(itertools.product(Activation, (False, True)))  # every (activation, SE) pair


def every_option_model() -> torch.nn.Module:
    """A network whose stages take each (activation, SE) pair and each kernel, in training mode."""
    genome = MobileNetSpace(CONFIG).sample(np.random.default_rng(0))
    kernels = itertools.cycle(CONFIG.kernels)
    stages = tuple(replace(stage, act=act, se=se, blocks=tuple(Block(next(kernels), b.expand) for b in stage.blocks))
                   for stage, (act, se) in zip(genome.stages, itertools.cycle(OPTIONS)))
    assert len(genome.stages) >= len(OPTIONS)
    return trained_batchnorm(build(replace(genome, stages=stages), CONFIG, SHAPE, 10,
                                   torch.Generator().manual_seed(0)), seed=1)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return every_option_model()


@pytest.fixture(scope="module")
def exports(model) -> dict[bool, bytes]:
    """dynamic_batch -> the exported bytes, exported with DeprecationWarnings as errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        return {dynamic: to_onnx(model, SHAPE, dynamic_batch=dynamic) for dynamic in (False, True)}


def batch_dims(proto: onnx.ModelProto) -> list[str | int]:
    return [v.type.tensor_type.shape.dim[0].dim_param or v.type.tensor_type.shape.dim[0].dim_value
            for v in (*proto.graph.input, *proto.graph.output)]


@pytest.mark.xdist_group("onnx_exports")  # the module's two exports, made once per xdist worker that uses them
@pytest.mark.parametrize("dynamic", [False, True])
def test_every_option_exports_checked_and_matches_torch(model, exports, dynamic):
    proto = onnx.load_from_string(exports[dynamic])
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    assert [i.name for i in proto.graph.input] == [INPUT_NAME] and [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    assert batch_dims(proto) == ([BATCH_AXIS] * 2 if dynamic else [1, 1])
    ops = {node.op_type for node in proto.graph.node}
    assert {"Relu", "HardSwish", "HardSigmoid", "Mul", "ReduceMean", "Conv", "Gemm"} <= ops  # re, hs, SE, head
    assert "BatchNormalization" not in ops  # folded into the convolutions
    assert max(check_parity(model, exports[dynamic], SHAPE, batches=(1, 8) if dynamic else (1,)).values()) <= 1e-4


def _op_types(proto: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in proto.graph.node if n.op_type != "Identity"]


def _weight_shapes(proto: onnx.ModelProto) -> list[tuple[int, ...]]:
    return sorted(tuple(i.dims) for i in proto.graph.initializer if len(i.dims) >= 2)


@pytest.mark.xdist_group("onnx_exports")
def test_timed_graph_is_the_exported_graph_with_the_same_outputs(model, exports):
    timed = onnx.load_from_string(onnx_for_timing(model, SHAPE))
    exported = onnx.load_from_string(exports[False])
    onnx.checker.check_model(timed, full_check=True)
    assert _op_types(timed) == _op_types(exported)
    assert _weight_shapes(timed) == _weight_shapes(exported)
    assert [i.name for i in timed.graph.input] == [INPUT_NAME] and [o.name for o in timed.graph.output] == [OUTPUT_NAME]
    assert batch_dims(timed) == [1, 1]
    assert max(check_parity(model, timed.SerializeToString(), SHAPE, batches=(1,), seed=2).values()) <= 1e-4


def test_a_network_the_emitter_does_not_know_goes_through_torch_export_in_eval_mode():
    class Scaled(torch.nn.Module):  # a subclass may change forward: not emitted from its layers
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return 2.0 * self.inner(x)

    net = Scaled(every_option_model())
    assert net.training
    proto = onnx.load_from_string(onnx_for_timing(net, SHAPE))
    assert net.training  # exported in eval mode, its own mode restored
    assert "BatchNormalization" not in {node.op_type for node in proto.graph.node}
    assert max(check_parity(net, proto.SerializeToString(), SHAPE, batches=(1,), seed=3).values()) <= 1e-4


@pytest.mark.parametrize("change", ["fewer", "more", "shape"])
def test_weights_that_do_not_fit_the_layers_are_refused(change):
    net = every_option_model()
    weights = list(model_weights(net))
    if change == "fewer":
        weights = weights[:-1]
    elif change == "more":
        weights.append(weights[-1])
    else:
        weights[0] = weights[0][:, :1]
    with pytest.raises(ValueError, match="weights|shape"):
        layers_to_onnx(model_layers(net, SHAPE), weights=iter(weights))


@pytest.mark.parametrize("shape", [(3, 16, 16), (3, 64, 48)])
def test_layers_of_genome_and_model_agree_and_random_weights_emit_the_same_graph(shape):
    """The latency table times layers emitted with random weights: the same operators and weight
    shapes as a network's own graph (which the test above checks against torch's export)."""
    config = SpaceConfig.for_resolution(min(shape[1:]))
    space, rng = MobileNetSpace(config), np.random.default_rng(0)
    for _ in range(3):
        genome = space.sample(rng)
        model = build(genome, config, shape, 10)
        layers = genome_layers(genome, config, shape, 10)
        assert layers == model_layers(model, shape) and set(layers) <= set(space_layers(config, shape, 10))
        emitted = onnx.load_from_string(layers_to_onnx(layers))
        own = onnx.load_from_string(onnx_for_timing(model, shape))
        assert _op_types(emitted) == _op_types(own)
        assert _weight_shapes(emitted) == _weight_shapes(own)
