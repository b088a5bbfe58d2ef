"""Static costs of any network: parameters and FLOPs (torch's own flop counter, or hooks on a MobileNetLike)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from evonas.mobilenet.builder import MobileNetLike


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs of one forward pass at batch 1, as ``torch.utils.flop_counter`` counts them.

    torch counts a multiply-add as two FLOPs, and only matrix products and convolutions. A
    :class:`~evonas.mobilenet.builder.MobileNetLike` (whose only such operations are its
    ``Conv2d`` and ``Linear`` modules) is counted by forward hooks on those modules: the same
    count at about a quarter of the CPU time, and without the flop counter's first-use cost
    (strategies count the FLOPs of many candidate children between evaluations). Any other
    network goes through torch's counter.
    """
    count = _hooked_flops if type(model) is MobileNetLike else _dispatched_flops
    was_training = model.training
    model.eval()
    try:
        return count(model, input_shape)
    finally:
        model.train(was_training)


def _dispatched_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_shape))
    return int(counter.get_total_flops())


def _hooked_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """torch's count for a network whose matrix products are all ``Conv2d`` and ``Linear`` modules:
    2 x output elements x (input channels per group x kernel area), or x input features."""
    total = 0

    def add(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        per_output = module.weight[0].numel() if isinstance(module, nn.Conv2d) else module.in_features
        total += 2 * output.numel() * per_output

    handles = [m.register_forward_hook(add) for m in model.modules() if type(m) in (nn.Conv2d, nn.Linear)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return total
