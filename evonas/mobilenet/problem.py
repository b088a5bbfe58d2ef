"""The real problem: train MobileNetV3-like candidates on an image dataset and score any objectives."""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass
from typing import Annotated, Any, Mapping, Sequence

import numpy as np
import torch

from evonas.core.errors import UserError
from evonas.core.options import Range, checked
from evonas.core.objectives import Constraint, Direction, MetricContext, Objective, check_objectives, interval_names
from evonas.core.problem import Budget, Checkpoint, Evaluation, Problem, Proposal, WeightTransfer
from evonas.mobilenet.builder import build
from evonas.mobilenet.costs import count_flops, count_params
from evonas.mobilenet.data import Dataset
from evonas.mobilenet.distill import repair, repair_budget
from evonas.mobilenet.proxies import ProxyBatch
from evonas.mobilenet.space import Genome, MobileNetSpace
from evonas.mobilenet.training import TrainConfig, TrainState, accuracy, loss_sample, steps_for, train, train_budget

ACCURACY = "accuracy"
OWN_METRICS = frozenset({ACCURACY, "train_seconds", "inherited", "params", "flops"})
MEASURED_PER_RUNG = frozenset({ACCURACY, "train_seconds"})
"""Own metrics a promotion measures again; it carries the others (and every training-free
objective's) forward from the rung it continues."""
SAMPLE_SIZE = 64
"""Training images in the batch data-dependent metric sources (zero-cost proxies) see."""
SAMPLE_STREAM = 0x5A3D1E
"""Mixed with the run seed to draw that batch, apart from every other use of the seed."""
"""What every evaluation records besides the objectives' sources (params and FLOPs are cheap
and feed LEMONADE's density estimate and the front table)."""


EMBEDDED_RESOLUTION = 12
"""Height and width at which the embedded 8x8 digits are presented by default (bilinear).

At 8x8 a network's latency on a CPU is mostly per-operator overhead: a network with 4-channel
stages and one with 8 to 48 channels, same depth, time alike (0.029 vs 0.030 ms on edge-cpu),
so narrower networks cannot buy speed with accuracy, and the default search ended with one or
two front members. At 12x12 latency follows the network's compute, for about 1.1x the training
time of the old default (measured with the small-input space of :meth:`SpaceConfig.for_resolution`);
see ``benchmarks/default_run.py``."""


def resized(data: Dataset, resolution: int) -> Dataset:
    """``data`` with its images bilinearly resized to ``resolution`` x ``resolution``.

    The images are already normalised; bilinear weights sum to one, so resizing commutes with
    the per-channel normalisation, which stays valid. Downsizing is antialiased.
    """
    import dataclasses

    if data.input_shape[1:] == (resolution, resolution):
        return data
    check_fits_in_memory(data, resolution)
    x = torch.nn.functional.interpolate(torch.from_numpy(data.x), size=(resolution, resolution), mode="bilinear",
                                        align_corners=False, antialias=resolution < min(data.input_shape[1:]))
    return dataclasses.replace(data, x=np.ascontiguousarray(x.numpy(), dtype=np.float32),
                               name=f"{data.name}@{resolution}x{resolution}")


def check_fits_in_memory(data: Dataset, resolution: int) -> None:
    """Refuse, in one line, a resolution whose resized images would take more than half the memory
    available now: they are resized once, up front, and held in memory (by every worker)."""
    import psutil

    need = data.x.shape[0] * data.x.shape[1] * resolution * resolution * np.dtype(np.float32).itemsize
    available = psutil.virtual_memory().available
    if need > available / 2:
        raise UserError(f"--resolution {resolution}: the {data.x.shape[0]} images of {data.name} would take "
                        f"{need / 2 ** 30:.1f} GiB at {resolution}x{resolution}, more than half of the "
                        f"{available / 2 ** 30:.1f} GiB of memory available; choose a smaller resolution")


def presented(dataset: Dataset, resolution: int | None, embedded: bool) -> Dataset:
    """``dataset`` as a search sees it: resized to ``resolution``, or, given none, kept at its own
    size, except the ``embedded`` digits, presented at :data:`EMBEDDED_RESOLUTION`."""
    if resolution is None and embedded:
        resolution = EMBEDDED_RESOLUTION
    return dataset if resolution is None else resized(dataset, resolution)


def accuracy_objective() -> Objective:
    """Validation accuracy (maximised, in [0, 1]): the problem's own metric, measured after training."""
    return Objective.maximize(ACCURACY, bounds=(0.0, 1.0))


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
    """Validation accuracy and any other objectives of trained MobileNetV3-like networks.

    Each candidate is built, trained for ``train_config.epochs`` on the training split and
    scored on the validation split. Every objective with a source is computed on the built
    network: training-free sources before training (on the initial weights), the others on
    the trained network. Objectives without a source must be metrics this problem produces
    (``accuracy``, ``params``, ``flops``, ``train_seconds``). Weight initialisation and
    shuffling are seeded from the run seed and the genome string, so the same genome gives
    the same metrics whatever order it is evaluated in. Under a multi-fidelity schedule
    (``fidelities = ()``: any epochs) :meth:`evaluate` honours the proposal's budget and
    continues a promoted candidate from its checkpoint.

    Args:
        splits: training and validation data.
        space: the search space.
        objectives: k >= 2 objectives (see :mod:`hardware.objectives` for built-ins).
        train_config: training settings (epochs = fidelity).
        seed: the run seed.
        inherit_epochs: fine-tune epochs of a child that inherits its parent's weights
            (a :class:`~evonas.core.problem.WeightTransfer` payload); approximate children are
            fine-tuned by distillation from the parent. 0 trains every candidate from scratch.
    """

    trains_networks = True
    fidelities = ()  # any positive number of epochs

    def __init__(self, splits: Splits, space: MobileNetSpace, objectives: Sequence[Objective],
                 train_config: TrainConfig = TrainConfig(), seed: int = 0, inherit_epochs: float = 0.0):
        self.splits = splits
        self.space = space
        self.objectives = tuple(objectives)
        self.train_config = train_config
        self.seed = seed
        self.inherit_epochs = inherit_epochs
        check_objectives(self.objectives)
        self.check_metric_names(())
        for o in self.objectives:
            check = getattr(o.source, "check", None)
            if check is not None:
                check(splits.input_shape, splits.num_classes, space.config)
        self._bounds: tuple[np.ndarray, np.ndarray] | None = None
        self._cheap: dict[tuple, dict[str, float]] = {}

    @classmethod
    @checked
    def from_options(cls, objectives: Sequence[Objective], seed: int = 0, data: str | None = None,
                     epochs: Annotated[float, Range(0, 10_000, exclusive=True)] = 3,
                     batch_size: Annotated[int, Range(1, 65_536)] = 64,
                     lr: Annotated[float, Range(0, 10, exclusive=True)] = 5e-3,
                     val_fraction: Annotated[float, Range(0, 1, exclusive=True)] = 0.2,
                     device: str = "cpu", inherit_epochs: Annotated[float, Range(0, 10_000)] = 1.0,
                     resolution: Annotated[int | None, Range(1, 2048)] = None) -> "ImageClassification":
        """Real training of MobileNetV3-like networks on an image dataset.

        Args:
            data: dataset path (IDX dir, CIFAR-10 dir, .npz, image folder); None: the embedded digits.
            epochs: training epochs per candidate (the fidelity).
            batch_size: training batch size.
            lr: peak learning rate.
            val_fraction: fraction of the data held out for validation.
            device: training device, cpu or cuda.
            inherit_epochs: fine-tune epochs of a child inheriting its parent's weights (lemonade; 0: from scratch).
            resolution: present the images at this height and width (bilinear resize); None: the
                dataset's own size, except the embedded 8x8 digits, presented at 12x12.
        """
        from evonas.mobilenet.data import load_dataset
        from evonas.mobilenet.space import SpaceConfig
        from evonas.mobilenet.training import check_device

        check_device(device)
        dataset = presented(load_dataset(data), resolution, embedded=data is None)
        splits = Splits.from_dataset(dataset, val_fraction, seed)
        space = MobileNetSpace(SpaceConfig.for_resolution(min(dataset.input_shape[1:])))
        return cls(splits, space, objectives, TrainConfig(epochs, batch_size, lr, device=device), seed, inherit_epochs)

    # -- what it produces ----------------------------------------------------------
    def metric_names(self) -> frozenset[str]:
        names = set(OWN_METRICS) | {o.name for o in self.objectives}
        if any(o.name == "latency_ms" and o.source is not None for o in self.objectives):
            names.update({"latency_iqr_ms", *interval_names("latency_ms")})
        return frozenset(names)

    def context(self, metrics: Mapping[str, float], trained: bool) -> MetricContext:
        """What an objective's source sees: input shape, class count, the metrics so far, whether
        the network is trained, and the run's fixed sample of training images."""
        return MetricContext(self.splits.input_shape, self.splits.num_classes, dict(metrics), trained,
                             self.sample())

    def sample(self) -> ProxyBatch:
        """The batch of training images (and labels) that data-dependent sources see: the same
        :data:`SAMPLE_SIZE` images for every candidate of a run, drawn with the run seed."""
        if getattr(self, "_sample", None) is None:
            n = len(self.splits.x_train)
            rows = np.random.default_rng([self.seed, SAMPLE_STREAM]).permutation(n)[:min(SAMPLE_SIZE, n)]
            index = torch.from_numpy(np.sort(rows))
            self._sample = ProxyBatch(self.splits.x_train[index], self.splits.y_train[index])
        return self._sample

    def generator(self, genome: Genome, seed: int | None = None) -> torch.Generator:
        """The torch generator of a candidate: from its ``seed`` (the driver derives one from the run
        seed and the candidate id), or else from this run's seed and the genome string."""
        entropy = [seed] if seed is not None else [self.seed, zlib.crc32(str(genome).encode())]
        state = np.random.SeedSequence(entropy).generate_state(2)
        return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))

    def build(self, genome: Genome, generator: torch.Generator | None = None) -> torch.nn.Module:
        """An untrained network for ``genome`` at this problem's input shape and class count."""
        return build(genome, self.space.config, self.splits.input_shape, self.splits.num_classes,
                     generator or self.generator(genome))

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, proposal: Proposal) -> Evaluation:
        """Build, train and score ``proposal``'s network; under a budget, train (or continue) that far.

        ``proposal.budget`` None trains ``train_config.epochs`` (a child: ``inherit_epochs``).
        With a budget, a new candidate trains ``budget.fidelity`` epochs of a schedule laid out
        over ``budget.planned``. A LEMONADE child's rungs are fractions of its own training, its
        fine-tune (repair by distillation for an approximate child) of ``inherit_epochs``: at
        rung ``fidelity`` of ``planned`` it trains ``fidelity / planned`` of them, on the
        fine-tune schedule laid out over ``inherit_epochs`` (:func:`child_budget`), so its top
        rung is exactly its fine-tune without a schedule. Its evaluation's ``fidelity`` stays
        the rung's and its ``cost`` is the epochs it trained. ``proposal.resume`` continues a
        checkpoint (see :meth:`_continue`). Below the top rung the evaluation's ``train_state`` is
        the :class:`~evonas.mobilenet.training.TrainState` to continue from.
        """
        if proposal.resume is not None:
            return self._continue(proposal)
        genome = proposal.genome
        gen = self.generator(genome, proposal.seed)
        model = self.build(genome, gen)
        metrics = self._sourced(model, genome, {}, training_free=True)
        t0 = time.perf_counter()
        epochs, inherited, state = self._fit(model, proposal.payload, gen, proposal.budget)
        metrics["train_seconds"] = time.perf_counter() - t0
        metrics["inherited"] = float(inherited)
        cost = None
        if inherited and proposal.budget is not None:
            cost = child_budget(proposal.budget, self.inherit_epochs).fidelity
        return self._scored(model, genome, metrics, epochs, proposal.budget, state, cost)

    def _continue(self, proposal: Proposal) -> Evaluation:
        """Continue a promoted candidate from its checkpoint up to ``proposal.budget.fidelity`` epochs.

        The network gets the checkpoint's weights and training continues from its state
        (optimizer, schedule position, shuffling: the candidate's new seed is not used), with
        cross-entropy also for a child whose first rung was a repair by distillation. Params,
        FLOPs, ``inherited`` and the training-free objectives (measured on the initial weights)
        are carried forward from the checkpoint's metrics; accuracy, the trained objectives and
        ``train_seconds`` (this rung's) are measured again. An inherited child (its checkpoint's
        ``inherited`` metric) continues on the budget scaled to its fine-tune
        (:func:`child_budget`), and its cost is the epochs this continuation adds.
        """
        resume, budget = proposal.resume, proposal.budget
        check_checkpoint(resume, budget)
        rung, cost = budget, None
        if self._on_own_scale(resume, rung):
            budget = child_budget(rung, self.inherit_epochs)
            cost = budget.fidelity - child_budget(Budget(resume.fidelity, rung.planned), self.inherit_epochs).fidelity
        model = self.build(proposal.genome)
        model.load_state_dict(resume.weights)
        metrics = {k: v for k, v in resume.metrics.items() if k not in MEASURED_PER_RUNG}
        gen = torch.Generator()  # its state comes from the checkpoint
        t0 = time.perf_counter()
        s = self.splits
        state = train_budget(model, s.x_train, s.y_train, self.train_config, gen, budget, resume_state=resume.state)
        metrics["train_seconds"] = time.perf_counter() - t0
        return self._scored(model, proposal.genome, metrics, rung.fidelity, rung, state, cost)

    def _on_own_scale(self, resume: Checkpoint, rung: Budget) -> bool:
        """Whether ``resume`` is an inherited child's rung, to continue on its own fine-tune's scale.

        A child checkpoint written before children's rungs were scaled (a resumed older run) laid
        its schedule over the rung's ``planned`` epochs, and continues on that scale.
        """
        if not resume.metrics.get("inherited", 0.0) or self.inherit_epochs <= 0:
            return False
        unscaled = steps_for(rung.planned, len(self.splits.x_train), self.train_config.batch_size)
        return resume.state.total_steps != unscaled

    def _scored(self, model: torch.nn.Module, genome: Genome, metrics: dict[str, float], epochs: float,
                budget: Budget | None, state: TrainState | None, cost: float | None = None) -> Evaluation:
        """The evaluation of a trained ``model``: accuracy, trained objectives, weights and measurement
        (``cost``: the epochs trained, where they differ from the fidelity increment)."""
        metrics[ACCURACY] = accuracy(model, self.splits.x_val, self.splits.y_val, self.train_config.device)
        model.cpu().eval()
        metrics = self._sourced(model, genome, metrics, training_free=False)
        weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        records = [m for o in self.objectives
                   if (m := getattr(o.source, "measurement", lambda *a: None)(genome, self.splits.input_shape))]
        return Evaluation(metrics, float(epochs), weights=weights, measurement=records[0] if records else None,
                          train_state=None if budget is None or budget.final else state, cost=cost)

    def reuse_measurement(self, genome: Genome, record: dict[str, Any]) -> None:
        for o in self.objectives:
            reuse = getattr(o.source, "reuse", None)
            if reuse is not None:
                reuse(genome, record, self.splits.input_shape)

    def remeasure(self, genomes: Sequence[Genome], seed: int) -> list[dict[str, float]] | None:
        """Latency (and any objective whose source can) measured again for ``genomes`` side by side."""
        sources = [o.source for o in self.objectives if hasattr(o.source, "remeasure")]
        if not sources:
            return None
        models = [self.build(g, self.generator(g, seed)) for g in genomes]  # latency does not depend on weights
        updates: list[dict[str, float]] = [{} for _ in genomes]
        for source in sources:
            for update, metrics in zip(updates, source.remeasure(models, genomes, self.splits.input_shape)):
                update.update(metrics)
        return updates

    def _sourced(self, model: torch.nn.Module, genome: Genome, metrics: dict[str, float],
                 training_free: bool) -> dict[str, float]:
        """``metrics`` plus every sourced objective of the given kind (params and FLOPs always, first)."""
        out = dict(metrics)
        if training_free:
            out.update(_static_costs(model, self.splits.input_shape))
        for o in self.objectives:
            if o.source is None or o.training_free != training_free:
                continue
            value = o.source(model, genome, self.context(out, trained=not training_free))
            out.update(_as_metrics(o.name, value))
        return out

    def _fit(self, model: torch.nn.Module, payload: Any, gen: torch.Generator,
             budget: Budget | None) -> tuple[float, bool, TrainState | None]:
        """Train from scratch, or fine-tune inherited weights; returns (fidelity, inherited, state).

        The state is None without a ``budget``. Under one, a child trains the budget scaled to
        its fine-tune (:func:`child_budget`); the fidelity returned is still the rung's.
        """
        s = self.splits
        if not (isinstance(payload, WeightTransfer) and payload.parent_weights is not None and self.inherit_epochs > 0):
            if budget is not None:
                return budget.fidelity, False, train_budget(model, s.x_train, s.y_train, self.train_config, gen, budget)
            train(model, s.x_train, s.y_train, self.train_config, gen)
            return self.train_config.epochs, False, None
        model.load_state_dict(payload.child_weights(self.space.config, gen, s.x_train[loss_sample(s.x_train)]))
        own = None if budget is None else child_budget(budget, self.inherit_epochs)
        if payload.function_preserving:
            if budget is not None:
                return budget.fidelity, True, train_budget(model, s.x_train, s.y_train, self.train_config, gen,
                                                           own, finetune=True)
            train(model, s.x_train, s.y_train, self.train_config, gen, epochs=self.inherit_epochs, finetune=True)
            return self.inherit_epochs, True, None
        teacher = self.build(payload.parent_genome)
        teacher.load_state_dict(payload.parent_weights)
        if budget is not None:
            return budget.fidelity, True, repair_budget(model, teacher, s.x_train, s.y_train, self.train_config, gen,
                                                        own)
        return repair(model, teacher, s.x_train, s.y_train, self.train_config, gen, self.inherit_epochs), True, None

    # -- training-free metrics, bounds and constraint checks ---------------------------------
    def cheap_metrics(self, genome: Genome, names: Sequence[str]) -> dict[str, float]:
        """Params, FLOPs and those training-free objectives named in ``names``, on an untrained network.

        Cached per genome and names: start-up checks and strategies ask for the same networks.
        """
        key = (str(genome), tuple(sorted(names)))
        if key not in self._cheap:
            model = self.build(genome, torch.Generator().manual_seed(0))
            out = _static_costs(model, self.splits.input_shape)
            for o in self.objectives:
                if o.source is not None and o.training_free and o.name in names:
                    out.update(_as_metrics(o.name, o.source(model, genome, self.context(out, trained=False))))
            self._cheap[key] = out
        return dict(self._cheap[key])

    def training_free(self, genomes: Sequence[Genome], objective: Objective) -> list[float]:
        """``objective`` on each genome's untrained network, built with the run seed and the genome
        string (the same network whatever order or worker it is scored in)."""
        if objective.source is None or not objective.training_free:
            raise UserError(f"{objective.name} is not a training-free objective with a source; a screen needs one "
                            "(e.g. synflow, snip, grad_norm, nwot)")
        out = []
        for genome in genomes:
            model = self.build(genome)
            value = objective.source(model, genome, self.context(_static_costs(model, self.splits.input_shape), False))
            out.append(_as_metrics(objective.name, value)[objective.name])
        return out

    def training_free_names(self) -> frozenset[str]:
        """Metrics known before training: params, FLOPs and every training-free objective."""
        return frozenset({"params", "flops"} | {o.name for o in self.objectives if o.source is not None and o.training_free})

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Minimisation-form bounds per objective, for the hypervolume.

        Accuracy lies in [0, 1]; a training-free cost (minimised) runs from 0 to 1.1 x its value
        on the space's largest network; other objectives use their ``Objective.bounds``, else are
        NaN (computed after training, or a maximised score such as a zero-cost proxy: the
        hypervolume is then relative to the range seen).
        """
        if self._bounds is None:
            lows, highs = [], []
            extremes = None
            for o in self.objectives:
                if o.bounds is not None:
                    lo, hi = o.bounds
                elif o.name == ACCURACY:
                    lo, hi = 0.0, 1.0
                elif o.name in self.training_free_names() and o.direction is Direction.MINIMIZE:
                    extremes = extremes or [self.cheap_metrics(g, [o.name for o in self.objectives])
                                            for g in (self.space.smallest(), self.space.largest())]
                    values = [e[o.name] for e in extremes]
                    lo, hi = min(0.0, *values), 1.1 * max(values) if max(values) > 0 else 0.0
                else:  # known only once trained: the hypervolume is relative to the range seen
                    lo, hi = np.nan, np.nan
                a, b = sorted((o.to_min(lo), o.to_min(hi)))
                lows.append(a)
                highs.append(b)
            self._bounds = (np.array(lows), np.array(highs))
        return self._bounds

    def check_constraints(self, constraints: Sequence[Constraint]) -> None:
        """Reject constraints no network of the space can meet.

        A bound on a training-free metric is tried on the space's smallest and largest
        networks and 8 seeded samples: when none satisfies it, the search would waste its
        budget, so it is an error. Accuracy bounds outside [0, 1] are errors too.
        """
        self.check_metric_names(constraints)
        free = [c for c in constraints if c.name in self.training_free_names()]
        for c in constraints:
            if c.name == ACCURACY and ((c.lower is not None and c.lower > 1) or (c.upper is not None and c.upper < 0)):
                raise UserError(f"constraint {c} cannot be met: accuracy lies in [0, 1]")
        if not free:
            return
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 7]))
        genomes = [self.space.smallest(), self.space.largest(), *(self.space.sample(rng) for _ in range(8))]
        names = [c.name for c in free]
        seen = [self.cheap_metrics(g, names) for g in genomes]
        for c in free:
            if all(c.violation(m) > 0 for m in seen):
                values = [m[c.name] for m in seen]
                raise UserError(f"constraint {c} cannot be met in this space: {c.name} ranges over "
                                f"[{min(values):.4g}, {max(values):.4g}] on its smallest, largest and 8 sampled networks")

    def describe(self) -> dict[str, Any]:
        targets = [o.source.target.settings() for o in self.objectives if hasattr(o.source, "target")]
        return {"problem": "image-classification", "targets": targets,
                "input_shape": list(self.splits.input_shape), "num_classes": self.splits.num_classes,
                "epochs": self.train_config.epochs, "device": self.train_config.device}


def child_budget(rung: Budget, inherit_epochs: float) -> Budget:
    """The budget an inherited child trains at ``rung``: the same fraction of its own fine-tune.

    A rung at ``fidelity`` of ``planned`` epochs is that fraction of a new network's training; a
    child's own training is its fine-tune (or repair) of ``inherit_epochs``, so it trains
    ``fidelity * inherit_epochs / planned`` epochs of a schedule laid out over ``inherit_epochs``.
    Its top rung is then exactly the fine-tune it gets without a schedule, and a rung continued
    to the next ends where one trained straight through would. Counting the child's rungs on a
    new network's scale instead would fine-tune a child on the front ``planned`` epochs, many
    times its fine-tune without a schedule, for no more than a full-fidelity result.
    """
    if rung.final:
        return Budget(inherit_epochs, inherit_epochs)
    return Budget(rung.fidelity * inherit_epochs / rung.planned, inherit_epochs)


def check_checkpoint(resume: Checkpoint, budget: Budget | None) -> None:
    """Raise ValueError unless ``resume`` holds weights and a training state to continue under ``budget``."""
    if budget is None:
        raise ValueError(f"continuing #{resume.trial_id} needs a budget: how far to train it")
    if resume.weights is None or not isinstance(resume.state, TrainState):
        raise ValueError(f"checkpoint #{resume.trial_id} holds no weights or no training state "
                         f"({type(resume.state).__name__}) to continue from")


def _static_costs(model: torch.nn.Module, input_shape: tuple[int, ...]) -> dict[str, float]:
    """Parameters and FLOPs, recorded for every candidate."""
    return {"params": float(count_params(model)), "flops": float(count_flops(model, tuple(input_shape)))}


def _as_metrics(name: str, value: Any) -> dict[str, float]:
    """A source's result as metrics: a number for ``name``, or a mapping that holds ``name``."""
    if isinstance(value, Mapping):
        if name not in value:
            raise ValueError(f"the source of objective {name!r} returned {sorted(value)} without {name!r}")
        return {k: float(v) for k, v in value.items()}
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"objective {name!r} is {out}")
    return {name: out}
