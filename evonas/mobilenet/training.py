"""Training a candidate network and measuring its validation accuracy."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from evonas.core import gate
from evonas.core.errors import UserError
from evonas.core.problem import Budget


@dataclass(frozen=True)
class TrainConfig:
    """How candidates are trained: AdamW, no augmentation.

    From scratch the learning rate follows a one-cycle schedule peaking at ``lr``. A
    fine-tune of inherited weights (Lamarckian children) starts at a fraction of ``lr`` and
    decays by a cosine with no warm-up: warming up to the from-scratch peak would throw away
    much of what the parent learned. The fraction is ``finetune_lr_fraction`` when given, else
    the child's starting loss relative to chance (:func:`loss_scaled_fraction`): a child that
    computes its parent's well-trained function moves little, one an approximate morphism
    damaged (or of a lineage that never trained well) moves further.

    Attributes:
        epochs: passes over the training split (the fidelity).
        batch_size: minibatch size.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        device: 'cpu' or 'cuda'.
        finetune_lr_fraction: starting learning rate of a fine-tune, as a fraction of ``lr``;
            None scales it by the starting loss (:func:`loss_scaled_fraction`).
        repair_rounds: most rounds of the fine-tune budget an approximate child's repair may take;
            it stops after the first round that brings the child's training loss back to its parent's
            (see :func:`evonas.mobilenet.distill.repair`).
    """

    epochs: float = 3
    batch_size: int = 64
    lr: float = 5e-3
    weight_decay: float = 1e-4
    device: str = "cpu"
    finetune_lr_fraction: float | None = None
    repair_rounds: int = 1

    def __post_init__(self) -> None:
        if self.finetune_lr_fraction is not None and not 0 < self.finetune_lr_fraction <= 1:
            raise UserError(f"finetune_lr_fraction must be in (0, 1] or None, got {self.finetune_lr_fraction}")
        if self.repair_rounds < 1:
            raise UserError(f"repair_rounds must be at least 1, got {self.repair_rounds}")


def check_device(device: str) -> torch.device:
    """Resolve ``device`` or raise a clear :class:`UserError`."""
    if device not in ("cpu", "cuda"):
        raise UserError(f"unknown device {device!r}; choose 'cpu' or 'cuda'")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' requested but torch sees no CUDA GPU on this machine")
    return torch.device(device)


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, batch indices) -> loss


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
          generator: torch.Generator, epochs: float | None = None, finetune: bool = False) -> nn.Module:
    """Train ``model`` in place on tensors ``x``/``y``; shuffling comes from ``generator``.

    ``epochs`` overrides ``config.epochs`` (fractional epochs train on a prefix of the
    last shuffled pass); ``finetune`` uses the fine-tune schedule (see :class:`TrainConfig`).
    Returns the model.
    """
    device = check_device(config.device)
    loss_fn = nn.CrossEntropyLoss()
    return fit(model, x, lambda logits, idx: loss_fn(logits, y[idx].to(device)), config, generator,
               config.epochs if epochs is None else epochs,
               finetune_fraction(model, x, y, config) if finetune else None)


def finetune_fraction(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig) -> float:
    """The starting learning rate of a fine-tune of ``model`` on ``x``/``y``, as a fraction of ``config.lr``."""
    if config.finetune_lr_fraction is not None:
        return config.finetune_lr_fraction
    return loss_scaled_fraction(model, x, y, config)


LOSS_SAMPLES = 512
"""Training images on which :func:`loss_scaled_fraction` measures a child's starting loss."""


def loss_sample(x: torch.Tensor) -> torch.Tensor:
    """Indices of the up to :data:`LOSS_SAMPLES` evenly spaced rows of ``x`` a starting loss is measured on."""
    return torch.linspace(0, len(x) - 1, min(len(x), LOSS_SAMPLES)).round().long()


@torch.no_grad()
def loss_scaled_fraction(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig) -> float:
    """``model``'s cross-entropy on up to :data:`LOSS_SAMPLES` evenly spaced training images, divided
    by chance-level loss ``ln(classes)`` and clipped to [0, 1].

    A network at chance restarts at the full learning rate, a well-trained one at a small fraction
    (about 0.1 at 93% accuracy). The loss is measured in train mode, with batch statistics, as
    training will see it: an inherited network's running BatchNorm statistics belong to its
    parent (:func:`fit` re-estimates them at the end, overwriting what this pass updated).
    """
    device = check_device(config.device)
    model.to(device, memory_format=torch.channels_last).train()
    index = loss_sample(x)
    total, count, classes = 0.0, 0, 0
    for start in range(0, len(index), config.batch_size):
        idx = index[start:start + config.batch_size]
        if len(idx) < 2:  # BatchNorm in train mode needs more than one sample
            continue
        with gate.computing():
            logits = model(x[idx].to(device, memory_format=torch.channels_last))
        total += float(nn.functional.cross_entropy(logits, y[idx].to(device), reduction="sum"))
        count, classes = count + len(idx), logits.shape[1]
    return min(1.0, total / count / math.log(classes)) if count and classes > 1 else 1.0


def fit(model: nn.Module, x: torch.Tensor, loss: Loss, config: TrainConfig, generator: torch.Generator,
        epochs: float, start_fraction: float | None = None) -> nn.Module:
    """The training loop shared by :func:`train` and distillation: ``loss(logits, batch_indices)``.

    ``start_fraction`` None trains from scratch (one-cycle to ``config.lr``); a fraction
    fine-tunes, starting at ``config.lr`` times it and decaying by a cosine.
    """
    steps = steps_for(epochs, len(x), config.batch_size)
    _fit_steps(model, x, loss, config, generator, (steps, steps), start_fraction)
    return model


@dataclass(frozen=True)
class TrainState:
    """Where a budgeted training (:func:`fit_budget`) stopped, to continue it exactly.

    Picklable by ``torch.save`` (every tensor on the CPU); the network's weights are kept apart.

    Attributes:
        optimizer: the AdamW ``state_dict`` (moments, step counts, learning rates).
        schedule: the learning-rate scheduler's ``state_dict`` (its position in the schedule).
        finetune: whether the schedule is a fine-tune's cosine (else the one-cycle from scratch).
        step: optimizer steps taken so far.
        total_steps: the steps the schedule is laid out over (the budget's ``planned`` epochs).
        generator: the shuffling generator's state.
        order: the current pass's shuffled order (None before the first pass).
        position: where in ``order`` the next batch starts.
    """

    optimizer: dict
    schedule: dict
    finetune: bool
    step: int
    total_steps: int
    generator: torch.Tensor
    order: torch.Tensor | None
    position: int


def steps_for(epochs: float, n: int, batch_size: int) -> int:
    """Optimizer steps in ``epochs`` passes over ``n`` rows at ``batch_size`` (at least one)."""
    return max(1, round(epochs * max(1, -(-n // batch_size))))


def train_budget(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
                 generator: torch.Generator, budget: Budget, resume_state: TrainState | None = None,
                 finetune: bool = False) -> TrainState:
    """:func:`train` under a multi-fidelity ``budget``, with cross-entropy; returns where it stopped.

    See :func:`fit_budget`. A continuation (``resume_state``) always uses cross-entropy, also
    for a child whose first rung was a repair by distillation.
    """
    device = check_device(config.device)
    loss_fn = nn.CrossEntropyLoss()
    fraction = finetune_fraction(model, x, y, config) if finetune and resume_state is None else None
    return fit_budget(model, x, lambda logits, idx: loss_fn(logits, y[idx].to(device)), config, generator,
                      budget, fraction, resume_state)


def fit_budget(model: nn.Module, x: torch.Tensor, loss: Loss, config: TrainConfig, generator: torch.Generator,
               budget: Budget, start_fraction: float | None = None,
               resume_state: TrainState | None = None) -> TrainState:
    """Train ``model`` in place up to ``budget.fidelity`` epochs of a schedule laid out over ``budget.planned``.

    From scratch (``resume_state`` None) the optimizer and schedule start anew, as in :func:`fit`
    (``start_fraction``: a fine-tune's cosine, else the one-cycle). Given ``resume_state``, the
    optimizer, the schedule's position, ``generator``'s state and the current pass's order are
    restored from it (``start_fraction`` is ignored: the fine-tune's starting rate is in the
    state) and training continues, so a run stopped at one budget and continued to the next
    takes exactly the steps of a run trained straight through. BatchNorm statistics are
    re-estimated at the end of each call (they do not affect training, which runs in train mode).
    Returns the state to continue from.
    """
    total = steps_for(budget.planned, len(x), config.batch_size)
    stop = min(total, steps_for(budget.fidelity, len(x), config.batch_size))
    return _fit_steps(model, x, loss, config, generator, (total, stop), start_fraction, resume_state)


def _fit_steps(model: nn.Module, x: torch.Tensor, loss: Loss, config: TrainConfig, generator: torch.Generator,
               steps: tuple[int, int], start_fraction: float | None = None,
               resume_state: TrainState | None = None) -> TrainState:
    """:func:`fit_budget` with its budget in optimizer ``steps``: (laid out over, stop at)."""
    device = check_device(config.device)
    total, stop = steps
    # channels-last lets oneDNN pick much faster depthwise kernels on CPU (about 3x here)
    model.to(device, memory_format=torch.channels_last).train()
    finetune = start_fraction is not None if resume_state is None else resume_state.finetune
    optimizer, schedule = _optimizer(model, config, total, finetune,
                                     1.0 if start_fraction is None else start_fraction)
    cursor = _Cursor(0, None, 0)
    if resume_state is not None:
        _check_resumable(resume_state, total, stop)
        optimizer.load_state_dict(resume_state.optimizer)
        schedule.load_state_dict(resume_state.schedule)
        generator.set_state(resume_state.generator)
        cursor = _Cursor(resume_state.step, resume_state.order, resume_state.position)
    _steps(model, x, loss, config.batch_size, device, optimizer, schedule, generator, cursor, stop)
    recalibrate_batchnorm(model, x, config.batch_size, device)
    return TrainState(_cpu_copy(optimizer.state_dict()), _cpu_copy(schedule.state_dict()), finetune, cursor.step,
                      total, generator.get_state(), None if cursor.order is None else cursor.order.clone(),
                      cursor.position)


def _optimizer(model: nn.Module, config: TrainConfig, total_steps: int, finetune: bool,
               start_fraction: float) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW and its schedule: a cosine from ``config.lr * start_fraction`` (fine-tune), else one-cycle."""
    lr = config.lr * start_fraction if finetune else config.lr
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=config.weight_decay)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total_steps) if finetune
                else torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=total_steps))
    return optimizer, schedule


def _check_resumable(state: TrainState, total: int, stop: int) -> None:
    """Refuse a continuation whose schedule was laid out over other steps, or that would not move forward."""
    if state.total_steps != total:
        raise ValueError(f"the checkpoint's schedule is laid out over {state.total_steps} steps, this budget's "
                         f"over {total}: a continuation needs the same planned epochs, batch size and data")
    if stop <= state.step:
        raise ValueError(f"the checkpoint has trained {state.step} steps already; this budget stops at {stop}")


@dataclass
class _Cursor:
    """Steps taken and the position in the current shuffled pass."""

    step: int
    order: torch.Tensor | None
    position: int


def _steps(model: nn.Module, x: torch.Tensor, loss: Loss, batch_size: int, device: torch.device,
           optimizer: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler,
           generator: torch.Generator, cursor: _Cursor, stop: int) -> None:
    """Take optimizer steps until ``cursor.step`` reaches ``stop``, a new shuffled pass whenever one ends."""
    n = len(x)
    while cursor.step < stop:
        if cursor.order is None or cursor.position >= n:
            cursor.order, cursor.position = torch.randperm(n, generator=generator), 0
        idx = cursor.order[cursor.position:cursor.position + batch_size]
        cursor.position += batch_size
        if len(idx) < 2:  # BatchNorm needs more than one sample
            continue
        with gate.computing():
            optimizer.zero_grad(set_to_none=True)
            batch = x[idx].to(device, memory_format=torch.channels_last)
            loss(model(batch), idx).backward()
            optimizer.step()
            schedule.step()
        cursor.step += 1


def _cpu_copy(value: Any) -> Any:
    """A deep copy of a (nested) state dict with every tensor on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _cpu_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu_copy(v) for v in value)
    return copy.deepcopy(value)


BN_SAMPLES = 2048
"""Training images used to re-estimate BatchNorm statistics after training (OFA uses 2,000)."""


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> None:
    """Re-estimate every BatchNorm's running mean and variance on the final weights.

    The running averages kept during training mix in statistics of early, very different
    weights (with a one-cycle schedule, of the high-learning-rate phase); after a short
    training they can dominate, and eval-mode accuracy collapses to chance although the
    network has learned (measured here: 0.10 in eval mode vs 0.82 in train mode after one
    epoch on the embedded digits). A forward pass in train mode with cumulative averaging
    over up to :data:`BN_SAMPLES` evenly spaced training images fixes the statistics.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    index = torch.linspace(0, len(x) - 1, min(len(x), BN_SAMPLES)).round().long()
    was_training = model.training
    model.train()
    for start in range(0, len(index), batch_size):
        batch = x[index[start:start + batch_size]]
        if len(batch) > 1:
            with gate.computing():
                model(batch.to(device, memory_format=torch.channels_last))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: str = "cpu",
             batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` in eval mode."""
    model.to(check_device(device)).eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        with gate.computing():
            logits = model(x[start:start + batch_size].to(device))
        correct += int((logits.argmax(1).cpu() == y[start:start + batch_size]).sum())
    return correct / max(1, len(x))
