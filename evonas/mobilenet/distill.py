"""Knowledge-distillation repair of approximate children (Hinton et al., 2015).

A child made by an approximate morphism computes nearly its parent's function; a short
fine-tune towards the parent's softened logits, mixed with the label loss, repairs it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from evonas.core import gate
from evonas.core.problem import Budget
from evonas.mobilenet.training import (TrainConfig, TrainState, check_device, finetune_fraction, fit, fit_budget,
                                         loss_sample)


@torch.no_grad()
def teacher_logits(teacher: nn.Module, x: torch.Tensor, device: str = "cpu", batch_size: int = 512) -> torch.Tensor:
    """The teacher's eval-mode logits on every row of ``x`` (computed once, kept on the CPU)."""
    teacher.to(check_device(device)).eval()
    out = []
    for s in range(0, len(x), batch_size):
        with gate.computing():
            out.append(teacher(x[s:s + batch_size].to(device)).cpu())
    return torch.cat(out)


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor,
            temperature: float = 2.0, alpha: float = 0.7) -> torch.Tensor:
    """``alpha`` * T^2 * KL(teacher_T || student_T) + (1 - ``alpha``) * cross-entropy."""
    soft = F.kl_div(F.log_softmax(student / temperature, 1), F.log_softmax(teacher / temperature, 1),
                    reduction="batchmean", log_target=True)
    return alpha * temperature ** 2 * soft + (1 - alpha) * F.cross_entropy(student, target)


def distill(student: nn.Module, teacher: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
            generator: torch.Generator, epochs: float, temperature: float = 2.0, alpha: float = 0.7,
            finetune: bool = True) -> nn.Module:
    """Fine-tune ``student`` in place for ``epochs`` towards ``teacher``'s logits on ``x``.

    The student starts from inherited weights, so by default it follows the fine-tune
    schedule of :func:`evonas.mobilenet.training.train` (see :class:`~evonas.mobilenet.training.TrainConfig`);
    returns the student.
    """
    return _distill_towards(student, teacher_logits(teacher, x, config.device), x, y, config, generator, epochs,
                            temperature, alpha, finetune)


def _distill_towards(student: nn.Module, soft_targets: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                     config: TrainConfig, generator: torch.Generator, epochs: float, temperature: float = 2.0,
                     alpha: float = 0.7, finetune: bool = True) -> nn.Module:
    """:func:`distill` towards logits ``soft_targets`` (one row per row of ``x``) already computed."""
    device = check_device(config.device)

    def loss(logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, soft_targets[idx].to(device), y[idx].to(device), temperature, alpha)

    return fit(student, x, loss, config, generator, epochs,
               finetune_fraction(student, x, y, config) if finetune else None)


def repair(student: nn.Module, teacher: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
           generator: torch.Generator, epochs: float) -> float:
    """Repair an approximate child ``student`` of ``teacher`` by distillation, in rounds of ``epochs``.

    After each round but the last the student's eval-mode cross-entropy on the loss sample of
    ``x`` (:func:`~evonas.mobilenet.training.loss_sample`) is compared with its teacher's; the
    repair stops once it is no higher, or after ``config.repair_rounds`` rounds. The teacher's
    logits are computed once for every round. Returns the epochs trained.
    """
    soft_targets = teacher_logits(teacher, x, config.device)
    index = loss_sample(x)
    for rounds in range(1, config.repair_rounds + 1):
        _distill_towards(student, soft_targets, x, y, config, generator, epochs)
        if rounds == config.repair_rounds:
            break
        student_loss = F.cross_entropy(teacher_logits(student, x[index], config.device), y[index])
        if student_loss.item() <= F.cross_entropy(soft_targets[index], y[index]).item():
            break
    return rounds * epochs


def repair_budget(student: nn.Module, teacher: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
                  generator: torch.Generator, budget: Budget) -> TrainState:
    """Repair an approximate child by distillation as the first rung of a multi-fidelity schedule.

    One round of ``budget.fidelity`` epochs (``config.repair_rounds`` does not apply: the budget
    fixes the epochs) on the fine-tune's cosine laid out over ``budget.planned``. Returns the
    training state; a promotion continues it with plain cross-entropy on the labels
    (:func:`~evonas.mobilenet.training.train_budget`), the optimizer and schedule carried over:
    the parent is not part of a checkpoint, and once repaired the child learns the labels.
    """
    soft_targets = teacher_logits(teacher, x, config.device)
    device = check_device(config.device)

    def loss(logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, soft_targets[idx].to(device), y[idx].to(device))

    return fit_budget(student, x, loss, config, generator, budget, finetune_fraction(student, x, y, config))
