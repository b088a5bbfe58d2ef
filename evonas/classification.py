"""The real problem: train MobileNetV3-like candidates on an image dataset and measure their cost."""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from evonas.builder import build
from evonas.data import Dataset
from evonas.errors import UserError
from evonas.objectives import Objective
from evonas.problem import Evaluation, Problem, Proposal
from evonas.space import Genome, MobileNetSpace
from evonas.training import TrainConfig, accuracy, train
from hardware.fingerprint import environment_fingerprint
from hardware.metrics import count_flops, count_params
from hardware.targets import Target
from morphisms.base import MorphismPlan
from morphisms.repair import distill

COSTS = {
    "latency_ms": Objective.minimize("latency_ms", "ms"),
    "flops": Objective.minimize("flops"),
    "params": Objective.minimize("params"),
}


def cost_objective(name: str) -> Objective:
    """The cost objective called ``name`` ('latency_ms', 'flops' or 'params')."""
    if name not in COSTS:
        raise UserError(f"unknown cost objective {name!r}; choose one of: {', '.join(COSTS)}")
    return COSTS[name]


@dataclass(frozen=True)
class Splits:
    """Training and validation tensors of one dataset split."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    input_shape: tuple[int, int, int]
    num_classes: int

    @classmethod
    def from_dataset(cls, data: Dataset, val_fraction: float, seed: int) -> "Splits":
        tr, va = data.split(val_fraction, seed)
        return cls(torch.from_numpy(tr.x), torch.from_numpy(tr.y), torch.from_numpy(va.x),
                   torch.from_numpy(va.y), data.input_shape, data.num_classes)


class ImageClassification(Problem):
    """Accuracy versus hardware cost of trained MobileNetV3-like networks.

    Each candidate is built, trained for ``train_config.epochs`` on the training split and
    scored on the validation split; its parameters, FLOPs and latency on ``target`` are
    measured (latency is cached per genome, since it does not depend on weights). Weight
    initialisation and shuffling are seeded from the run seed and the genome string, so the
    same genome gives the same accuracy whatever order it is evaluated in.

    Args:
        splits: training and validation data.
        space: the search space.
        target: where latency is measured.
        train_config: training settings (epochs = fidelity).
        seed: the run seed.
        cost: the cost objective (see :data:`COSTS`).
        inherit_epochs: fine-tune epochs of a child that inherits its parent's weights
            (a :class:`~morphisms.base.MorphismPlan` payload with weights); approximate
            children are fine-tuned by distillation from the parent. 0 disables inheritance:
            every candidate trains from scratch for ``train_config.epochs``.
    """

    def __init__(self, splits: Splits, space: MobileNetSpace, target: Target,
                 train_config: TrainConfig = TrainConfig(), seed: int = 0,
                 cost: Objective = COSTS["latency_ms"], inherit_epochs: float = 0.0):
        self.splits = splits
        self.space = space
        self.target = target
        self.train_config = train_config
        self.seed = seed
        self.inherit_epochs = inherit_epochs
        self.objectives = (Objective.maximize("accuracy"), cost)
        self._latency: dict[str, Any] = {}
        self._fingerprint: dict[str, Any] | None = None
        self._bounds: tuple[np.ndarray, np.ndarray] | None = None

    def generator(self, genome: Genome) -> torch.Generator:
        """The torch generator for ``genome`` under this run's seed."""
        state = np.random.SeedSequence([self.seed, zlib.crc32(str(genome).encode())]).generate_state(2)
        return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))

    def build(self, genome: Genome, generator: torch.Generator | None = None) -> torch.nn.Module:
        """An untrained network for ``genome`` at this problem's input shape and class count."""
        return build(genome, self.space.config, self.splits.input_shape, self.splits.num_classes,
                     generator or self.generator(genome))

    def evaluate(self, proposal: Proposal) -> Evaluation:
        genome = proposal.genome
        gen = self.generator(genome)
        model = self.build(genome, gen)
        t0 = time.perf_counter()
        s = self.splits
        epochs, inherited = self._fit(model, proposal.payload, gen)
        train_seconds = time.perf_counter() - t0
        acc = accuracy(model, s.x_val, s.y_val, self.train_config.device)
        model.cpu().eval()
        metrics = {"accuracy": acc, "train_seconds": train_seconds, "inherited": float(inherited),
                   **self.costs(genome, model)}
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return Evaluation(metrics, float(epochs), {"state_dict": state, "measurement": self.measurement(genome)})

    def _fit(self, model: torch.nn.Module, payload: Any, gen: torch.Generator) -> tuple[float, bool]:
        """Train from scratch, or fine-tune inherited weights; returns (epochs trained, inherited)."""
        s = self.splits
        if not (isinstance(payload, MorphismPlan) and payload.parent_weights is not None and self.inherit_epochs > 0):
            train(model, s.x_train, s.y_train, self.train_config, gen)
            return self.train_config.epochs, False
        model.load_state_dict(payload.child_weights(self.space.config, gen))
        if payload.step.function_preserving:
            train(model, s.x_train, s.y_train, self.train_config, gen, epochs=self.inherit_epochs, finetune=True)
        else:
            teacher = self.build(payload.parent_genome)
            teacher.load_state_dict(payload.parent_weights)
            distill(model, teacher, s.x_train, s.y_train, self.train_config, gen, self.inherit_epochs)
        return self.inherit_epochs, True

    def cheap_metrics(self, genome: Genome, names: Sequence[str]) -> dict[str, float]:
        """Parameters, FLOPs and (only if named) latency of ``genome``, on an untrained network."""
        model = self.build(genome, torch.Generator().manual_seed(0))
        if "latency_ms" in names:
            return self.costs(genome, model)
        return {"params": count_params(model), "flops": count_flops(model, self.splits.input_shape)}

    def costs(self, genome: Genome, model: torch.nn.Module) -> dict[str, float]:
        """Parameters, FLOPs and latency (median and IQR, ms) of ``model``."""
        key = str(genome)
        if key not in self._latency:
            self._latency[key] = self.target.measure(model, self.splits.input_shape)
        lat = self._latency[key]
        return {"params": count_params(model), "flops": count_flops(model, self.splits.input_shape),
                "latency_ms": lat.median_ms, "latency_iqr_ms": lat.iqr_ms}

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Accuracy in [0, 1]; cost from 0 to 1.1 x the cost of the space's largest network."""
        if self._bounds is None:
            largest = self.space.largest()
            worst = self.costs(largest, self.build(largest))[self.objectives[1].name]
            self._bounds = (np.array([-1.0, 0.0]), np.array([0.0, 1.1 * worst]))
        return self._bounds

    def measurement(self, genome: Genome) -> dict[str, Any]:
        """The latency record of ``genome`` with the environment it was measured in (for the run store)."""
        if self._fingerprint is None:
            self._fingerprint = environment_fingerprint(self.target.settings())
        return {"target": self.target.name, "result": {**self._latency[str(genome)].as_dict(),
                                                        "input_shape": list(self.splits.input_shape)},
                "fingerprint": self._fingerprint}

    def describe(self) -> dict[str, Any]:
        return {"problem": "image-classification", "target": self.target.settings(),
                "input_shape": list(self.splits.input_shape), "num_classes": self.splits.num_classes,
                "epochs": self.train_config.epochs, "device": self.train_config.device}
