"""The one ONNX export (torch's dynamo exporter) on every option of the space.

One network whose stages cover ReLU and h-swish, with and without squeeze-excitation, and every
depthwise kernel, exported at batch 1 (what targets time) and with a dynamic batch (what bundles
ship): the full ONNX checker passes, ONNX Runtime matches torch, and no DeprecationWarning is raised.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from evonas.mobilenet.builder import build
from evonas.mobilenet.space import Activation, Block, MobileNetSpace, SpaceConfig
from hardware.onnx_io import BATCH_AXIS, INPUT_NAME, OPSET, OUTPUT_NAME, to_onnx

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
    return build(replace(genome, stages=stages), CONFIG, SHAPE, 10, torch.Generator().manual_seed(0))


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
    session = ort.InferenceSession(exports[dynamic], providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for batch in (1, 8) if dynamic else (1,):
        x = rng.standard_normal((batch, *SHAPE)).astype(np.float32)
        with torch.no_grad():
            expected = model.eval()(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(session.run(None, {INPUT_NAME: x})[0], expected, atol=1e-4, rtol=0)


def test_export_restores_the_training_mode():
    net = every_option_model()
    assert net.training
    to_onnx(net, SHAPE)
    assert net.training
