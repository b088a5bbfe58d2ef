"""ONNX export of a torch module through torch's exporter, and the settings every ONNX graph shares.

One place holds the opset and the tensor names. ``evonas export`` writes each front member with
:func:`to_onnx` and a dynamic batch axis. The hardware targets time the batch-1 graph that
:func:`hardware.layers.onnx_for_timing` emits for the MobileNetV3-like networks (the same
operators, in milliseconds instead of seconds), and :func:`to_onnx`'s for any other network.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import torch
from torch import nn

from evonas.mobilenet.builder import MobileNetLike, fold_batchnorm

OPSET = 18
"""The ONNX opset: the lowest the dynamo exporter implements (it would convert down with a warning)."""
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
BATCH_AXIS = "batch"
"""The name of axis 0 of the input and the output in a dynamic-batch export."""

_EXPORTER_LOGGERS = ("torch.onnx", "onnxscript")
"""Loggers the exporter reports its progress through (e.g. "torchvision is not installed")."""


def to_onnx(model: nn.Module, input_shape: tuple[int, int, int], dynamic_batch: bool = False) -> bytes:
    """Export ``model`` in eval mode at ``input_shape`` (C, H, W) to ONNX bytes.

    Uses torch's supported exporter (``dynamo=True``, through ``torch.export``; it needs the
    ``onnxscript`` package), which also optimises the graph (batch norm folded into convolutions,
    no ``Identity`` nodes). A :class:`~evonas.mobilenet.builder.MobileNetLike` has its BatchNorms
    folded before the export (:func:`~evonas.mobilenet.builder.fold_batchnorm`): the same graph,
    exported in about four fifths of the time.

    Args:
        model: the network (its training mode is restored afterwards).
        input_shape: the shape of one input, (C, H, W).
        dynamic_batch: False: a fixed batch of 1 (what targets time). True (deployment): axis 0
            of ``input`` and ``logits`` is the symbolic dimension :data:`BATCH_AXIS`.
    """
    if type(model) is MobileNetLike:  # the same graph (the exporter folds them too), a fifth faster to export
        model = fold_batchnorm(model)
    was_training = model.training
    model.eval()
    shapes = ({0: torch.export.Dim(BATCH_AXIS, min=1)},) if dynamic_batch else None
    try:
        with torch.no_grad(), _quiet_exporter():
            program = torch.onnx.export(model, (torch.zeros(1, *input_shape),), dynamo=True, opset_version=OPSET,
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes=shapes, verbose=False)
    finally:
        model.train(was_training)
    return program.model_proto.SerializeToString()


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's loggers at ERROR for one export: per candidate, their INFO and WARNING lines
    (progress, optional torchvision operators it skips) would flood a search's stderr."""
    loggers = [logging.getLogger(name) for name in _EXPORTER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.ERROR))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
