"""ONNX export of a torch module, shared by latency measurement and deployment export.

One place holds the export settings (opset, tensor names, exporter): the hardware targets
time the batch-1 graph, and ``evonas export`` writes the same graph with a dynamic batch axis.
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
BATCH_AXIS = "batch"
"""The name of axis 0 of the input and the output in a dynamic-batch export."""


def to_onnx(model: nn.Module, input_shape: tuple[int, int, int], dynamic_batch: bool = False) -> bytes:
    """Export ``model`` in eval mode at ``input_shape`` (C, H, W) to ONNX bytes.

    Uses the TorchScript exporter (``dynamo=False``): it needs no extra package and handles
    these convolutional networks exactly.

    Args:
        model: the network (its training mode is restored afterwards).
        input_shape: the shape of one input, (C, H, W).
        dynamic_batch: False (what targets time): a fixed batch of 1. True (deployment): axis 0
            of ``input`` and ``logits`` is the symbolic dimension :data:`BATCH_AXIS`.
    """
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    axes = {INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}} if dynamic_batch else None
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (torch.zeros(1, *input_shape),), buffer, dynamo=False,
                              opset_version=OPSET, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes=axes)
    finally:
        model.train(was_training)
    return buffer.getvalue()
