"""The MobileNetV3-like search space: genomes, their canonical strings, sampling and mutation.

A genome is a frozen value: a stem width and a tuple of stages, each stage a width, an
activation, a squeeze-excite flag and a tuple of inverted-residual blocks (depthwise kernel,
expand ratio). Its canonical string form, for example::

    stem16|c24_re_se0:k3e3-k5e4|c40_hs_se1:k7e6-k3e3-k3e3

parses back to an equal genome: ``space.parse(str(g)) == g``.

What may vary (choices) lives in :class:`SpaceConfig`; what a genome is lives in
:class:`Genome`. Strides are a property of the space, not of the genome.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from evonas.core.errors import UserError



class Activation(str, enum.Enum):
    """A stage's activation; its value is the genome string's token (``c24_re_se0``), and a member
    equals, hashes, prints and formats as that token, so genomes serialise exactly as before."""

    RELU = "re"
    HSWISH = "hs"

    __str__ = str.__str__
    __format__ = str.__format__
    __hash__ = str.__hash__

    @property
    def other(self) -> "Activation":
        """The activation a swap turns this one into."""
        return Activation.HSWISH if self is Activation.RELU else Activation.RELU


ACTIVATIONS = tuple(Activation)
"""The activations in their integer-encoding order (ReLU 0, h-swish 1)."""


@dataclass(frozen=True)
class Block:
    """One inverted-residual block: depthwise ``kernel`` and ``expand`` ratio."""

    kernel: int
    expand: int

    def __str__(self) -> str:
        return f"k{self.kernel}e{self.expand}"


@dataclass(frozen=True)
class Stage:
    """A stage: output ``width``, :class:`Activation` (ReLU or h-swish), SE flag, blocks.

    ``act`` may be given as its token (``"re"``, ``"hs"``); it is stored as the member.
    """

    width: int
    act: Activation
    se: bool
    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.act, Activation):
            try:
                object.__setattr__(self, "act", Activation(self.act))
            except ValueError:
                raise UserError(f"unknown activation {self.act!r}; choose one of: "
                                f"{', '.join(a.value for a in Activation)}") from None

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def __str__(self) -> str:
        blocks = "-".join(str(b) for b in self.blocks)
        return f"c{self.width}_{self.act}_se{int(self.se)}:{blocks}"


@dataclass(frozen=True)
class Genome:
    """A MobileNetV3-like network: stem width plus stages."""

    stem: int
    stages: tuple[Stage, ...]

    def __str__(self) -> str:
        return "|".join([f"stem{self.stem}", *(str(s) for s in self.stages)])

    @property
    def num_blocks(self) -> int:
        """The number of blocks over all stages."""
        return sum(s.depth for s in self.stages)


_ACTS = "|".join(a.value for a in Activation)
_STAGE_RE = re.compile(rf"^c(\d+)_({_ACTS})_se([01]):((?:k\d+e\d+)(?:-k\d+e\d+)*)$")
_BLOCK_RE = re.compile(r"^k(\d+)e(\d+)$")


def parse_genome(text: str) -> Genome:
    """Parse a canonical genome string without checking it against a space.

    Raises:
        UserError: the string is not a genome string.
    """
    parts = text.strip().split("|")
    if len(parts) < 2 or not re.fullmatch(r"stem\d+", parts[0]):
        raise UserError(f"malformed genome string {text!r}: expected 'stem<W>|<stage>|...'")
    stages = []
    for part in parts[1:]:
        m = _STAGE_RE.match(part)
        if m is None:
            raise UserError(
                f"malformed genome string {text!r}: stage {part!r} is not 'c<W>_<re|hs>_se<0|1>:k<K>e<E>-...'"
            )
        blocks = tuple(
            Block(int(b.group(1)), int(b.group(2)))
            for b in (_BLOCK_RE.match(s) for s in m.group(4).split("-"))
        )
        stages.append(Stage(int(m.group(1)), Activation(m.group(2)), m.group(3) == "1", blocks))
    return Genome(int(parts[0][4:]), tuple(stages))


@dataclass(frozen=True)
class SpaceConfig:
    """The choices of the MobileNetV3-like space (modelled on OFA-MobileNetV3).

    Attributes:
        stem_widths: choices for the stem convolution's output channels.
        stage_widths: per stage, the choices for its output channels.
        strides: per stage, the stride of its first block.
        depths: choices for the number of blocks of each stage.
        kernels: depthwise kernel choices.
        expands: expand-ratio choices.
        stem_stride: stride of the stem convolution.
    """

    stem_widths: tuple[int, ...] = (8, 16)
    stage_widths: tuple[tuple[int, ...], ...] = ((16, 24), (24, 32), (32, 48), (48, 64), (64, 96))
    strides: tuple[int, ...] = (1, 2, 2, 1, 2)
    depths: tuple[int, ...] = (1, 2, 3, 4)
    kernels: tuple[int, ...] = (3, 5, 7)
    expands: tuple[int, ...] = (3, 4, 6)
    stem_stride: int = 2

    def __post_init__(self) -> None:
        if len(self.stage_widths) != len(self.strides):
            raise UserError("space config: stage_widths and strides must have one entry per stage")

    @property
    def num_stages(self) -> int:
        """The number of stages (one per stride)."""
        return len(self.strides)

    @property
    def max_depth(self) -> int:
        """The most blocks a stage may have."""
        return max(self.depths)

    @classmethod
    def for_resolution(cls, resolution: int, **overrides) -> "SpaceConfig":
        """The default space, with a stem stride suited to the input resolution.

        Small inputs (at most 32 pixels) keep full resolution in the stem so that five
        stages still see spatial structure, and use narrower stages so that candidates
        train in seconds on a CPU; larger ones downsample by 2 as MobileNetV3 does. Their
        widths reach down to 4 channels: on small images the networks of 8 to 64 channels
        are all about as accurate (the embedded digits: 0.95 to 0.98, within the noise of
        training), so without narrower ones a search has no cheaper, less accurate
        networks to trade against.
        """
        if resolution <= 32:
            small = dict(stem_widths=(4, 8, 16),
                         stage_widths=((4, 8, 16), (8, 16, 24), (8, 24, 32), (16, 32, 48), (16, 48, 64)),
                         depths=(1, 2, 3), stem_stride=1)
            return cls(**{**small, **overrides})
        return cls(**overrides)


@dataclass(frozen=True)
class MobileNetSpace:
    """Sampling, mutation, parsing and integer encoding over a :class:`SpaceConfig`."""

    config: SpaceConfig = field(default_factory=SpaceConfig)

    # -- strings ---------------------------------------------------------------
    def parse(self, text: str) -> Genome:
        """Parse ``text`` and check every choice against this space."""
        genome = parse_genome(text)
        self.validate(genome)
        return genome

    def validate(self, g: Genome) -> None:
        """Raise :class:`UserError` naming the first choice that is outside the space."""
        c = self.config
        problems = []
        if g.stem not in c.stem_widths:
            problems.append(f"stem width {g.stem} not in {c.stem_widths}")
        if len(g.stages) != c.num_stages:
            problems.append(f"{len(g.stages)} stages, the space has {c.num_stages}")
        for i, (s, widths) in enumerate(zip(g.stages, c.stage_widths)):
            if s.width not in widths:
                problems.append(f"stage {i} width {s.width} not in {widths}")
            if s.depth not in c.depths:
                problems.append(f"stage {i} depth {s.depth} not in {c.depths}")
            for b in s.blocks:
                if b.kernel not in c.kernels or b.expand not in c.expands:
                    problems.append(f"stage {i} block {b} outside kernels {c.kernels} / expands {c.expands}")
        if problems:
            raise UserError(f"genome {str(g)!r} is outside the search space: {problems[0]}")

    # -- sampling and mutation ----------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Genome:
        """A uniformly random genome."""
        c = self.config
        stages = tuple(
            Stage(
                width=int(rng.choice(widths)),
                act=ACTIVATIONS[int(rng.integers(2))],
                se=bool(rng.integers(2)),
                blocks=tuple(self._random_block(rng) for _ in range(int(rng.choice(c.depths)))),
            )
            for widths in c.stage_widths
        )
        return Genome(int(rng.choice(c.stem_widths)), stages)

    def _random_block(self, rng: np.random.Generator) -> Block:
        return Block(int(rng.choice(self.config.kernels)), int(rng.choice(self.config.expands)))

    def mutate(self, g: Genome, rng: np.random.Generator) -> tuple[Genome, str]:
        """Change one choice of ``g``; returns the child and the name of the mutation.

        The child always differs from the parent (a mutation that would change nothing
        draws again from the remaining alternatives).
        """
        ops = self._mutations(g)
        for _ in range(64):
            name, fn = ops[int(rng.integers(len(ops)))]
            child = fn(g, rng)
            if child != g:
                return child, name
        raise RuntimeError("mutation failed to change the genome 64 times in a row")  # impossible by construction

    def _mutations(self, g: Genome):
        return [
            ("mutate_kernel", self._mut_block_field("kernel", self.config.kernels)),
            ("mutate_expand", self._mut_block_field("expand", self.config.expands)),
            ("mutate_depth", self._mut_depth),
            ("mutate_width", self._mut_width),
            ("mutate_se", lambda g, rng: self._with_stage(g, i := int(rng.integers(len(g.stages))),
                                                           replace(g.stages[i], se=not g.stages[i].se))),
            ("mutate_act", lambda g, rng: self._with_stage(g, i := int(rng.integers(len(g.stages))),
                                                            replace(g.stages[i], act=g.stages[i].act.other))),
        ]

    @staticmethod
    def _with_stage(g: Genome, i: int, stage: Stage) -> Genome:
        return replace(g, stages=g.stages[:i] + (stage,) + g.stages[i + 1:])

    def _mut_block_field(self, name: str, choices: Sequence[int]):
        def mutate(g: Genome, rng: np.random.Generator) -> Genome:
            i = int(rng.integers(len(g.stages)))
            s = g.stages[i]
            j = int(rng.integers(s.depth))
            current = getattr(s.blocks[j], name)
            value = int(rng.choice([c for c in choices if c != current] or [current]))
            blocks = s.blocks[:j] + (replace(s.blocks[j], **{name: value}),) + s.blocks[j + 1:]
            return self._with_stage(g, i, replace(s, blocks=blocks))
        return mutate

    def _mut_depth(self, g: Genome, rng: np.random.Generator) -> Genome:
        i = int(rng.integers(len(g.stages)))
        s = g.stages[i]
        depth = int(rng.choice([d for d in self.config.depths if d != s.depth] or [s.depth]))
        blocks = s.blocks[:depth] + tuple(self._random_block(rng) for _ in range(depth - s.depth))
        return self._with_stage(g, i, replace(s, blocks=blocks))

    def _mut_width(self, g: Genome, rng: np.random.Generator) -> Genome:
        i = int(rng.integers(len(g.stages) + 1))
        if i == len(g.stages):
            return replace(g, stem=int(rng.choice([w for w in self.config.stem_widths if w != g.stem] or [g.stem])))
        s = g.stages[i]
        widths = self.config.stage_widths[i]
        return self._with_stage(g, i, replace(s, width=int(rng.choice([w for w in widths if w != s.width] or [s.width]))))

    # -- integer encoding (for DE, NSGA-II and other vector-based strategies) -------
    def cardinalities(self) -> tuple[int, ...]:
        """Number of choices of each position of the integer encoding."""
        c = self.config
        dims = [len(c.stem_widths)]
        for widths in c.stage_widths:
            dims += [len(widths), 2, 2, len(c.depths)]
            dims += [len(c.kernels), len(c.expands)] * c.max_depth
        return tuple(dims)

    def encode(self, g: Genome) -> np.ndarray:
        """Fixed-length integer vector; blocks beyond a stage's depth encode as 0."""
        c = self.config
        out = [c.stem_widths.index(g.stem)]
        for s, widths in zip(g.stages, c.stage_widths):
            out += [widths.index(s.width), ACTIVATIONS.index(s.act), int(s.se), c.depths.index(s.depth)]
            for j in range(c.max_depth):
                b = s.blocks[j] if j < s.depth else None
                out += [c.kernels.index(b.kernel), c.expands.index(b.expand)] if b else [0, 0]
        return np.asarray(out, dtype=np.int64)

    def decode(self, v: Sequence[int]) -> Genome:
        """Inverse of :meth:`encode` (blocks beyond the depth are ignored)."""
        c = self.config
        v = [int(x) for x in v]
        stem, pos, stages = c.stem_widths[v[0]], 1, []
        for widths in c.stage_widths:
            width, act, se, depth = widths[v[pos]], ACTIVATIONS[v[pos + 1]], bool(v[pos + 2]), c.depths[v[pos + 3]]
            pos += 4
            blocks = tuple(Block(c.kernels[v[pos + 2 * j]], c.expands[v[pos + 2 * j + 1]]) for j in range(depth))
            pos += 2 * c.max_depth
            stages.append(Stage(width, act, se, blocks))
        return Genome(stem, tuple(stages))

    def largest(self) -> Genome:
        """The most expensive genome of the space (widest, deepest, largest kernels, SE, h-swish)."""
        c = self.config
        block = Block(max(c.kernels), max(c.expands))
        return Genome(max(c.stem_widths), tuple(
            Stage(max(w), Activation.HSWISH, True, (block,) * c.max_depth) for w in c.stage_widths))

    def smallest(self) -> Genome:
        """The cheapest genome of the space (narrowest, shallowest, smallest kernels, no SE, ReLU)."""
        c = self.config
        block = Block(min(c.kernels), min(c.expands))
        return Genome(min(c.stem_widths), tuple(
            Stage(min(w), Activation.RELU, False, (block,) * min(c.depths)) for w in c.stage_widths))

