"""Zero-cost proxies: scores of an *untrained* network that rank networks by how well they will train.

Each proxy takes a built network and, where it needs data, a batch of real training images
(:class:`ProxyBatch`), and returns one float, larger meaning better. A proxy never changes
the network it is given: it works on a copy, so the candidate's initial weights (and the
generator they came from) are untouched. Synflow runs in float64; the proxies that see data
run in float32 (their values are of ordinary magnitude), NWOT's determinant in float64.

- :func:`synflow` (Tanaka et al., 2020, "Pruning neural networks without any data by
  iteratively conserving synaptic flow", NeurIPS; used for NAS by Abdelfattah et al., 2021,
  "Zero-Cost Proxies for Lightweight NAS", ICLR) sees no data.
- :func:`snip` (Lee et al., 2019, "SNIP: Single-shot network pruning based on connection
  sensitivity", ICLR) and :func:`grad_norm` (Abdelfattah et al., 2021) see one batch and its labels.
- :func:`nwot` (Mellor et al., 2021, "Neural Architecture Search without Training", ICML)
  sees one batch, not its labels.

Numerics: synflow multiplies the absolute weights of every layer along every path, so it grows
geometrically with depth (1e32 to 1e61 in the literature); in float32 it overflows to ``inf`` on
deep networks. It is computed here in float64 (largest value 1.8e308) and returned as a base-10
logarithm; its per-parameter terms are non-negative, so the sum cannot cancel. A network deep
enough to overflow even float64 raises :class:`ProxyOverflow` instead of returning ``inf``.
NWOT's kernel determinant is taken as a log-determinant (``slogdet``) in float64.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from evonas.core.errors import UserError


class ProxyOverflow(UserError):
    """A proxy's value does not fit in float64 (a network far deeper than this space holds)."""


@dataclass(frozen=True)
class ProxyBatch:
    """Training images (N, C, H, W) and their integer labels (N,) that data-dependent proxies see."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.labels.shape != (self.images.shape[0],) or len(self.labels) < 2:
            raise UserError(f"a proxy batch needs images (N, C, H, W) and N >= 2 labels, got "
                            f"{tuple(self.images.shape)} and {tuple(self.labels.shape)}")


def _copy(model: nn.Module, train: bool, dtype: torch.dtype = torch.float32) -> nn.Module:
    """A copy of ``model`` in ``dtype``, in train or eval mode, its gradients cleared."""
    clone = copy.deepcopy(model).to(dtype)
    clone.train(train)
    clone.zero_grad(set_to_none=True)
    return clone


def _weights(model: nn.Module) -> list[nn.Parameter]:
    """The weights of convolutions and linear layers: what pruning-based proxies score."""
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow(model: nn.Module, input_shape: tuple[int, int, int]) -> float:
    """log10 of the synaptic flow: sum over weights of ``|w| * dR/d|w|``, where R is the sum of
    the outputs of the network with every parameter made positive, fed an all-ones input.

    Batch norm runs in eval mode (its running statistics, not a batch's), so the score depends
    on the weights alone, as in Abdelfattah et al.'s implementation.
    """
    clone = _copy(model, train=False, dtype=torch.float64)
    with torch.no_grad():
        for p in clone.state_dict().values():
            if p.is_floating_point():
                p.abs_()
    out = clone(torch.ones((1, *input_shape), dtype=torch.float64)).sum()
    out.backward()
    with torch.no_grad():
        total = sum(float((w * w.grad).sum()) for w in _weights(clone) if w.grad is not None)
    if not math.isfinite(float(out.detach())) or not math.isfinite(total):
        raise ProxyOverflow("synflow overflowed float64: the network is too deep to score")
    return math.log10(total) if total > 0 else -math.inf


def _loss_gradients(model: nn.Module, batch: ProxyBatch) -> nn.Module:
    """A train-mode copy of ``model`` with the gradients of the batch's cross-entropy."""
    clone = _copy(model, train=True)
    loss = nn.functional.cross_entropy(clone(batch.images.float()), batch.labels.long())
    loss.backward()
    return clone


def snip(model: nn.Module, batch: ProxyBatch) -> float:
    """Connection sensitivity: sum over weights of ``|w * dL/dw|`` on one batch (L: cross-entropy)."""
    clone = _loss_gradients(model, batch)
    with torch.no_grad():
        return float(sum((w * w.grad).abs().sum() for w in _weights(clone) if w.grad is not None))


def grad_norm(model: nn.Module, batch: ProxyBatch) -> float:
    """Sum over layers of the Euclidean norm of the loss gradient of their weights, on one batch."""
    clone = _loss_gradients(model, batch)
    with torch.no_grad():
        return float(sum(w.grad.norm() for w in _weights(clone) if w.grad is not None))


_RECTIFIERS = (nn.ReLU, nn.Hardswish)


def nwot(model: nn.Module, batch: ProxyBatch) -> float:
    """log|K_H|: how differently the network's rectifiers split the images of one batch.

    Each image gets a binary code, 1 where a rectifier's input is positive (ReLU and h-swish,
    which is zero or nearly so below zero). ``K_H[i, j]`` counts the units where images i and j
    agree; distinct codes make the kernel well conditioned and its log-determinant large.
    Labels are not used.
    """
    clone = _copy(model, train=True)
    codes: list[torch.Tensor] = []

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        codes.append((inputs[0].detach() > 0).flatten(1).double())

    hooks = [m.register_forward_hook(record) for m in clone.modules() if isinstance(m, _RECTIFIERS)]
    try:
        with torch.no_grad():
            clone(batch.images.float())
    finally:
        for h in hooks:
            h.remove()
    c = torch.cat(codes, dim=1)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else -math.inf


DATA_FREE: dict[str, Callable[[nn.Module, tuple[int, int, int]], float]] = {"synflow": synflow}
"""Proxies that see no data: ``proxy(model, input_shape)``."""

ON_A_BATCH: dict[str, Callable[[nn.Module, ProxyBatch], float]] = {"snip": snip, "grad_norm": grad_norm, "nwot": nwot}
"""Proxies that see one batch of training data: ``proxy(model, batch)``."""
