"""The morphism abstraction: an operator on (genome, trained weights) of the MobileNetV3-like space.

A :class:`Morphism` is an operator *type* ("grow a depthwise kernel"). Where it can act on a
genome is a list of *sites* (stage, block, new value, ...); a :class:`MorphismStep` is one
operator bound to one site, so it is fully determined and can travel inside a
:class:`~evonas.core.problem.Proposal` as data. A step has two forms:

* the genome form, :meth:`MorphismStep.genome`, used as a plain mutation wherever there are
  no weights (benchmark tables, or a parent whose weights are gone);
* the weight form, :meth:`MorphismStep.weights`, mapping the parent's ``state_dict`` to
  the child's. Function-preserving steps give a child whose eval-mode output equals the
  parent's; approximate ones (shrinking) give a close child to be repaired by distillation.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar, Hashable, Mapping

import numpy as np
import torch

from evonas.mobilenet.builder import MobileNetLike, init_weights
from evonas.mobilenet.space import Block, Genome, MobileNetSpace, SpaceConfig, Stage

StateDict = dict[str, torch.Tensor]


class Morphism(abc.ABC):
    """An operator mapping a parent network to a child network of the same space.

    Subclasses set ``name`` and ``function_preserving`` and implement :meth:`sites`,
    :meth:`child` and :meth:`transfer`. Operators never fail on a genome they do not apply
    to: :meth:`sites` is empty, :meth:`applies` is False and :meth:`apply` returns None.
    """

    name: ClassVar[str] = "morphism"
    function_preserving: ClassVar[bool] = False

    @abc.abstractmethod
    def sites(self, genome: Genome, space: MobileNetSpace) -> list[Hashable]:
        """Every place this operator can act on ``genome`` with a child inside ``space``."""

    @abc.abstractmethod
    def child(self, genome: Genome, site: Any) -> Genome:
        """The child genome of acting at ``site``."""

    @abc.abstractmethod
    def transfer(self, parent: Genome, site: Any, src: StateDict, dst: StateDict) -> None:
        """Fill ``dst`` (the child's freshly initialised tensors) from the parent's ``src``."""

    def refine(self, parent: Genome, site: Any, model: MobileNetLike, dst: StateDict, inputs: torch.Tensor) -> None:
        """Fit the transferred child weights ``dst`` closer to the parent network ``model`` on ``inputs``.

        Optional, for approximate operators: a closed-form least-squares correction from the
        parent's activations on a sample of training images (``model`` is in eval mode and
        must not change). The default changes nothing.
        """

    def applies(self, genome: Any, space: Any) -> bool:
        """Whether this operator can act on ``genome`` (False outside the MobileNetV3-like space)."""
        return isinstance(space, MobileNetSpace) and isinstance(genome, Genome) and bool(self.sites(genome, space))

    def propose(self, genome: Any, space: Any, rng: np.random.Generator) -> "MorphismStep | None":
        """A step at a uniformly drawn site, or None when the operator does not apply."""
        if not self.applies(genome, space):
            return None
        sites = self.sites(genome, space)
        return MorphismStep(self, sites[int(rng.integers(len(sites)))])

    def apply(self, genome: Genome, state_dict: Mapping[str, torch.Tensor], rng: np.random.Generator,
              space: MobileNetSpace, generator: torch.Generator | None = None) -> tuple[Genome, StateDict] | None:
        """Child genome and child weights at a random site, or None when inapplicable.

        ``generator`` initialises the child's new tensors (defaults to one seeded from ``rng``).
        """
        step = self.propose(genome, space, rng)
        if step is None:
            return None
        generator = generator or torch.Generator().manual_seed(int(rng.integers(2**62)))
        return step.genome(genome), step.weights(genome, state_dict, space.config, generator)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


@dataclass(frozen=True)
class MorphismStep:
    """One operator bound to one site: a fully determined edit of a parent network."""

    morphism: Morphism
    site: Hashable

    @property
    def name(self) -> str:
        return self.morphism.name

    @property
    def function_preserving(self) -> bool:
        return self.morphism.function_preserving

    def genome(self, parent: Genome) -> Genome:
        """The child genome (the step's weight-free form)."""
        return self.morphism.child(parent, self.site)

    def weights(self, parent: Genome, state_dict: Mapping[str, torch.Tensor], config: SpaceConfig,
                generator: torch.Generator, inputs: torch.Tensor | None = None) -> StateDict:
        """The child's ``state_dict``: the parent's tensors carried over, new ones from ``generator``.

        With ``inputs`` (training images), an approximate step also refines the child towards
        the parent's function on them (:meth:`Morphism.refine`).
        """
        child = self.genome(parent)
        in_channels = state_dict["stem.0.weight"].shape[1]
        num_classes = state_dict["classifier.weight"].shape[0]
        fresh = MobileNetLike(child, config, in_channels, num_classes)
        init_weights(fresh, generator)
        dst = {k: v.detach().clone() for k, v in fresh.state_dict().items()}
        src = {k: v.detach() for k, v in state_dict.items()}
        with torch.no_grad():
            self.morphism.transfer(parent, self.site, src, dst)
            if inputs is not None and not self.function_preserving:
                model = MobileNetLike(parent, config, in_channels, num_classes)
                model.load_state_dict(src)
                self.morphism.refine(parent, self.site, model.eval(), dst, inputs)
        return dst

    def __str__(self) -> str:
        return f"{self.name}{self.site}"


@dataclass(frozen=True)
class MorphismPlan:
    """The payload of a LEMONADE child: its parent, the step, and (once loaded) the parent's weights.

    The strategy creates it without weights; the driver, which owns the stored weights,
    fills them in through :meth:`with_weights` just before the problem evaluates the child.
    """

    parent_genome: Genome
    step: MorphismStep
    parent_weights: StateDict | None = None

    def with_weights(self, state_dict: StateDict) -> "MorphismPlan":
        return replace(self, parent_weights=state_dict)

    @property
    def function_preserving(self) -> bool:
        """Whether the child computes exactly the parent's function (else it needs distillation)."""
        return self.step.function_preserving

    def child_weights(self, config: SpaceConfig, generator: torch.Generator,
                      inputs: torch.Tensor | None = None) -> StateDict:
        """The child's inherited weights (requires :attr:`parent_weights`), refined on ``inputs`` if given."""
        if self.parent_weights is None:
            raise ValueError("this plan carries no parent weights to inherit")
        return self.step.weights(self.parent_genome, self.parent_weights, config, generator, inputs)


# -- helpers shared by the operators --------------------------------------------------------

_BLOCK_KEY = re.compile(r"^stages\.(\d+)\.(\d+)\.(.+)$")

BlockMap = Callable[[int, int], "tuple[int, int] | None"]


def block_prefix(stage: int, index: int) -> str:
    return f"stages.{stage}.{index}."


def copy_mapped(src: StateDict, dst: StateDict, mapping: BlockMap | None = None,
                skip: tuple[str, ...] = ()) -> None:
    """Copy every tensor of ``dst`` from its counterpart in ``src``.

    ``mapping(stage, child_block)`` gives the parent block a child block comes from (None
    for a new block, left as initialised); other keys map to themselves. Keys starting
    with a prefix in ``skip`` are left for the operator to fill.
    """
    for key in dst:
        if key.startswith(skip):
            continue
        source = key
        m = _BLOCK_KEY.match(key)
        if m and mapping is not None:
            origin = mapping(int(m.group(1)), int(m.group(2)))
            if origin is None:
                continue
            source = f"{block_prefix(*origin)}{m.group(3)}"
        if src[source].shape != dst[key].shape:
            raise ValueError(f"morphism bug: {source} {tuple(src[source].shape)} -> {key} {tuple(dst[key].shape)}")
        dst[key] = src[source].clone()


def with_stage(genome: Genome, i: int, stage: Stage) -> Genome:
    return replace(genome, stages=genome.stages[:i] + (stage,) + genome.stages[i + 1:])


def with_block(genome: Genome, i: int, j: int, block: Block) -> Genome:
    s = genome.stages[i]
    return with_stage(genome, i, replace(s, blocks=s.blocks[:j] + (block,) + s.blocks[j + 1:]))


def block_in_channels(genome: Genome, i: int, j: int) -> int:
    """Input channels of block ``j`` of stage ``i``."""
    if j > 0:
        return genome.stages[i].width
    return genome.stages[i - 1].width if i > 0 else genome.stem


def is_identity_shaped(genome: Genome, config: SpaceConfig, i: int, j: int) -> bool:
    """Whether block position ``j`` of stage ``i`` has stride 1 and equal in/out channels (a residual)."""
    stride = config.strides[i] if j == 0 else 1
    return stride == 1 and block_in_channels(genome, i, j) == genome.stages[i].width
