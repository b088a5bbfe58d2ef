"""ONNX export of a torch module, shared by latency measurement and deployment export."""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

OPSET = 17


def to_onnx(model: nn.Module, input_shape: tuple[int, int, int]) -> bytes:
    """Export ``model`` in eval mode at batch 1 and ``input_shape`` to ONNX bytes.

    Uses the TorchScript exporter (``dynamo=False``): it needs no extra package and handles
    these static-shape convolutional networks exactly.
    """
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (torch.zeros(1, *input_shape),), buffer, dynamo=False,
                              opset_version=OPSET, input_names=["input"], output_names=["logits"])
    finally:
        model.train(was_training)
    return buffer.getvalue()
