"""The network morphisms of the MobileNetV3-like space.

Function-preserving (the child computes exactly the parent's function in eval mode):
:class:`InsertBlock`, :class:`WidenExpand`, :class:`GrowKernel`, :class:`AddSqueezeExcite`,
:class:`WidenStage`, :class:`WidenStem`, :class:`WidenChain`.

Approximate, shrinking (the child is close to the parent and is repaired by a short
distillation from the parent, :func:`evonas.mobilenet.distill.distill`): :class:`RemoveBlock`,
:class:`PruneExpand`, :class:`ShrinkKernel`, :class:`RemoveSqueezeExcite`, :class:`NarrowStage`,
:class:`NarrowStem`, :class:`NarrowChain`, and the activation swap :class:`SwapActivation` (ReLU <-> h-swish).

Sites are plain tuples so that a :class:`~morphisms.base.MorphismStep` is hashable and
prints readably, e.g. ``grow_kernel(2, 0, 7)``: stage 2, block 0, new kernel 7.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from evonas.core import gate
from evonas.mobilenet.builder import MobileNetLike, make_divisible
from evonas.mobilenet.space import Block, Genome, MobileNetSpace, SpaceConfig
from morphisms.base import (Morphism, StateDict, block_in_channels, block_prefix, copy_mapped,
                            is_identity_shaped, with_block, with_stage)

# The h-sigmoid gate is exactly 1 for inputs >= 3.
_GATE_OPEN_BIAS = 3.0


def _blocks(genome: Genome):
    for i, stage in enumerate(genome.stages):
        for j, block in enumerate(stage.blocks):
            yield i, j, block


# -- function-preserving --------------------------------------------------------------------

class InsertBlock(Morphism):
    """Insert a residual block whose last BatchNorm has zero scale and shift: it adds exactly 0.

    Site ``(stage, position, kernel, expand)``; the block goes before ``position``. Only
    positions where the new block has stride 1 and equal in/out channels qualify (so a
    stage's first position only when the stage keeps stride 1 and width).
    """

    name = "insert_block"
    function_preserving = True

    def sites(self, genome, space):
        c = space.config
        out = []
        for i, stage in enumerate(genome.stages):
            if stage.depth + 1 not in c.depths:
                continue
            for j in range(stage.depth + 1):
                if j == 0 and not is_identity_shaped(genome, c, i, 0):
                    continue
                out += [(i, j, k, e) for k in c.kernels for e in c.expands]
        return out

    def child(self, genome, site):
        i, j, k, e = site
        s = genome.stages[i]
        return with_stage(genome, i, replace(s, blocks=s.blocks[:j] + (Block(k, e),) + s.blocks[j:]))

    def transfer(self, parent, site, src, dst):
        i, j = site[:2]
        copy_mapped(src, dst, lambda si, b: (si, b) if si != i or b < j else (None if b == j else (si, b - 1)))
        new = block_prefix(i, j)
        dst[new + "project_bn.weight"].zero_()
        dst[new + "project_bn.bias"].zero_()


class WidenExpand(Morphism):
    """Raise a block's expand ratio; new hidden channels feed the projection with zero weights.

    Site ``(stage, block, new_expand)``. Squeeze-excite, if present, grows with the hidden
    width: its new squeezed units get zero outgoing weights and the old units ignore the new
    channels, so every old gate value is unchanged.
    """

    name = "widen_expand"
    function_preserving = True

    def sites(self, genome, space):
        return [(i, j, e) for i, j, b in _blocks(genome) for e in space.config.expands if e > b.expand]

    def child(self, genome, site):
        i, j, e = site
        return with_block(genome, i, j, replace(genome.stages[i].blocks[j], expand=e))

    def transfer(self, parent, site, src, dst):
        i, j, _ = site
        p = block_prefix(i, j)
        copy_mapped(src, dst, skip=(p,))
        _widen_block(src, dst, p, block_in_channels(parent, i, j) * parent.stages[i].blocks[j].expand, None, None)


class GrowKernel(Morphism):
    """Enlarge a depthwise kernel, the old kernel centred in zeros. Site ``(stage, block, new_kernel)``."""

    name = "grow_kernel"
    function_preserving = True

    def sites(self, genome, space):
        return [(i, j, k) for i, j, b in _blocks(genome) for k in space.config.kernels if k > b.kernel]

    def child(self, genome, site):
        i, j, k = site
        return with_block(genome, i, j, replace(genome.stages[i].blocks[j], kernel=k))

    def transfer(self, parent, site, src, dst):
        i, j, _ = site
        key = block_prefix(i, j) + "dw_conv.weight"
        copy_mapped(src, dst, skip=(key,))
        old, new = src[key].shape[-1], dst[key].shape[-1]
        pad = (new - old) // 2
        dst[key].zero_()
        dst[key][..., pad:pad + old, pad:pad + old] = src[key]


class AddSqueezeExcite(Morphism):
    """Switch squeeze-excite on for a stage, each gate held open (exactly 1). Site ``(stage,)``.

    The gate's expand convolution gets zero weights and bias 3, where h-sigmoid reaches 1.
    h-sigmoid's gradient is zero at exactly 3, but AdamW's decoupled weight decay moves the
    bias just below 3 on the first step, after which the gate trains normally.
    """

    name = "add_se"
    function_preserving = True

    def sites(self, genome, space):
        return [(i,) for i, s in enumerate(genome.stages) if not s.se]

    def child(self, genome, site):
        (i,) = site
        return with_stage(genome, i, replace(genome.stages[i], se=True))

    def transfer(self, parent, site, src, dst):
        (i,) = site
        new = tuple(block_prefix(i, j) + "se." for j in range(parent.stages[i].depth))
        copy_mapped(src, dst, skip=new)
        for p in new:
            dst[p + "expand.weight"].zero_()
            dst[p + "expand.bias"].fill_(_GATE_OPEN_BIAS)


class _StageWidth(Morphism):
    """Sites and child of a stage-width change: ``(stage, width)`` for every width of the space's
    choices on the ``wider`` (or narrower) side, except those adding or removing a residual."""

    wider: ClassVar[bool] = True

    def sites(self, genome, space):
        return [(i, w) for i, stage in enumerate(genome.stages) for w in space.config.stage_widths[i]
                if (w > stage.width if self.wider else w < stage.width)
                and _same_residuals(genome, self.child(genome, (i, w)), space)]

    def child(self, genome, site):
        i, w = site
        return with_stage(genome, i, replace(genome.stages[i], width=w))


class _StemWidth(Morphism):
    """Sites and child of a stem-width change, as :class:`_StageWidth`: ``(width,)``."""

    wider: ClassVar[bool] = True

    def sites(self, genome, space):
        return [(w,) for w in space.config.stem_widths
                if (w > genome.stem if self.wider else w < genome.stem)
                and _same_residuals(genome, self.child(genome, (w,)), space)]

    def child(self, genome, site):
        return replace(genome, stem=site[0])


class _ChainWidth(Morphism):
    """Sites and child of a joint width change of a *residual chain*: the stem (``-1``) and/or
    consecutive stages whose links are residual first blocks (stride 1, equal widths). Such
    members can only change width together: alone, either would remove the residual connection
    between them, so :class:`_StageWidth` and :class:`_StemWidth` never offer it. Site
    ``(first, last, width)`` with ``first < last``, ``width`` a choice of every member."""

    wider: ClassVar[bool] = True

    def sites(self, genome, space):
        c, out = space.config, []
        for first in range(-1, c.num_stages - 1):
            choices, old = set(_width_choices(c, first)), _width(genome, first)
            for last in range(first + 1, c.num_stages):
                if not is_identity_shaped(genome, c, last, 0):
                    break
                choices &= set(_width_choices(c, last))
                out += [(first, last, w) for w in sorted(choices) if (w > old if self.wider else w < old)
                        and _same_residuals(genome, self.child(genome, (first, last, w)), space)]
        return out

    def child(self, genome, site):
        first, last, w = site
        if first < 0:
            genome = replace(genome, stem=w)
        for i in range(max(first, 0), last + 1):
            genome = with_stage(genome, i, replace(genome.stages[i], width=w))
        return genome


def _width_choices(config: SpaceConfig, member: int) -> tuple[int, ...]:
    return config.stem_widths if member < 0 else config.stage_widths[member]


def _width(genome: Genome, member: int) -> int:
    return genome.stem if member < 0 else genome.stages[member].width


class WidenStage(_StageWidth):
    """Widen a stage's output channels (Net2WiderNet); every block's new output channel copies an old one.

    Site ``(stage, new_width)``, a width of the space's choices for that stage. New channel
    ``c`` replicates old channel ``c mod width`` (its projection filter and BatchNorm, so after
    the stage the replicas carry equal values, residual paths included), and every consumer
    (the next blocks' expansions, the next stage, the classifier) splits the old channel's
    weight among its replicas. The split is uneven, so replicas get different gradients and
    drift apart in training instead of staying copies. A consuming block's hidden width grows
    with its input (``in x expand``); the new hidden channels have zero outgoing weights.
    Sites that would add or remove a residual connection (the widened stage's first block,
    or the next stage's) are excluded, since those change the function.
    """

    name = "widen_stage"
    function_preserving = True

    def transfer(self, parent, site, src, dst):
        _widen_chain(parent, site[0], site[0], src, dst)


class WidenStem(_StemWidth):
    """Widen the stem (Net2WiderNet), as :class:`WidenStage` does a stage. Site ``(new_width,)``."""

    name = "widen_stem"
    function_preserving = True

    def transfer(self, parent, site, src, dst):
        _widen_chain(parent, -1, -1, src, dst)


class WidenChain(_ChainWidth):
    """Widen a residual chain (the stem and stage 0 of equal width, say) as one Net2WiderNet step:
    every member replicates its channels with the same mapping, so the residual sums between
    them stay aligned. Site ``(first, last, new_width)``, ``-1`` the stem."""

    name = "widen_chain"
    function_preserving = True

    def transfer(self, parent, site, src, dst):
        _widen_chain(parent, site[0], site[1], src, dst)


def _widen_chain(parent: Genome, first: int, last: int, src: StateDict, dst: StateDict) -> None:
    """Net2WiderNet over members ``first..last`` (``-1`` the stem; one mapping for all, read off
    the child's widths in ``dst``), then the last member's consumer splits its input weights."""
    out_key = "stem.1.weight" if first < 0 else block_prefix(first, 0) + "project_bn.weight"
    g, share = _replication(_width(parent, first), dst[out_key].shape[0])
    prefixes, consumer = _chain_layout(parent, first, last)
    _copy_chain_rest(src, dst, first, prefixes, consumer, g)
    for (i, j), p in prefixes.items():
        widened_in = (g, share) if j > 0 or i > first else None
        mid = block_in_channels(parent, i, j) * parent.stages[i].blocks[j].expand
        _widen_block(src, dst, p, mid, widened_in, g)
    _widen_consumer(src, dst, parent, last + 1, consumer, g, share)


def _chain_layout(parent: Genome, first: int, last: int) -> tuple[dict[tuple[int, int], str], str]:
    """The block prefixes of members ``first..last`` (``-1`` the stem) and their consumer's prefix."""
    prefixes = {(i, j): block_prefix(i, j) for i in range(max(first, 0), last + 1)
                for j in range(parent.stages[i].depth)}
    consumer = block_prefix(last + 1, 0) if last + 1 < len(parent.stages) else "classifier."
    return prefixes, consumer


def _copy_chain_rest(src: StateDict, dst: StateDict, first: int, prefixes: dict, consumer: str,
                     stem_channels: torch.Tensor) -> None:
    """Copy every tensor outside the chain and its consumer; a stem in the chain (``first < 0``)
    takes the output channels ``stem_channels`` of the parent's stem."""
    copy_mapped(src, dst, skip=(*prefixes.values(), consumer) + (("stem.",) if first < 0 else ()))
    if first < 0:
        dst["stem.0.weight"] = src["stem.0.weight"][stem_channels].clone()
        for name in _bn("stem.1"):
            dst[name] = src[name][stem_channels].clone()
        dst["stem.1.num_batches_tracked"] = src["stem.1.num_batches_tracked"].clone()


def _replication(old: int, new: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Net2Net's mapping of ``new`` channels onto ``old`` ones, and each channel's input-side share.

    Channel ``c`` copies ``c mod old``; the ``n`` copies of one old channel split its outgoing
    weight unevenly, in proportion to ``n, n - 1, ..., 1`` (the original the largest share).
    """
    g = torch.arange(new) % old
    copies = torch.bincount(g, minlength=old)[g]
    rank = torch.arange(new) // old  # 0 for the original, 1 for its first copy, ...
    share = (copies - rank).double() / (copies * (copies + 1) / 2).double()
    return g, share


def _widen_block(src: StateDict, dst: StateDict, p: str, mid: int,
                 widened_in: tuple[torch.Tensor, torch.Tensor] | None, g_out: torch.Tensor | None) -> None:
    """Carry over block ``p`` whose input channels (``widened_in``: mapping, shares) and/or output
    channels (``g_out``) were widened; ``mid`` is its old hidden width, new hidden channels are silent."""
    expand = src[p + "expand_conv.weight"]
    if widened_in is not None:
        g, share = widened_in
        expand = expand[:, g] * share.to(expand.dtype).view(1, -1, 1, 1)
    dst[p + "expand_conv.weight"][:mid] = expand
    for name in ("dw_conv.weight", *_bn("expand_bn"), *_bn("dw_bn")):
        dst[p + name][:mid] = src[p + name]
    for name in ("expand_bn", "dw_bn", "project_bn"):
        dst[p + name + ".num_batches_tracked"] = src[p + name + ".num_batches_tracked"].clone()
    if p + "se.reduce.weight" in src:
        sq = src[p + "se.reduce.weight"].shape[0]
        dst[p + "se.reduce.weight"][:sq, :mid] = src[p + "se.reduce.weight"]
        dst[p + "se.reduce.weight"][:sq, mid:] = 0
        dst[p + "se.reduce.bias"][:sq] = src[p + "se.reduce.bias"]
        dst[p + "se.expand.weight"][:mid, :sq] = src[p + "se.expand.weight"]
        dst[p + "se.expand.weight"][:, sq:] = 0
        dst[p + "se.expand.bias"][:mid] = src[p + "se.expand.bias"]
    project = src[p + "project_conv.weight"]
    rows = slice(None) if g_out is None else g_out
    dst[p + "project_conv.weight"][:, :mid] = project[rows]
    dst[p + "project_conv.weight"][:, mid:] = 0
    for name in _bn("project_bn"):
        dst[p + name] = src[p + name][rows].clone()


def _widen_consumer(src: StateDict, dst: StateDict, parent: Genome, stage: int, prefix: str,
                    g: torch.Tensor, share: torch.Tensor) -> None:
    """The layer reading a widened output: the first block of ``stage``, or the classifier."""
    if prefix == "classifier.":
        dst["classifier.weight"] = src["classifier.weight"][:, g] * share.to(src["classifier.weight"].dtype)
        dst["classifier.bias"] = src["classifier.bias"].clone()
        return
    mid = block_in_channels(parent, stage, 0) * parent.stages[stage].blocks[0].expand
    _widen_block(src, dst, prefix, mid, (g, share), None)


def _same_residuals(parent: Genome, child: Genome, space: MobileNetSpace) -> bool:
    """Whether every block of ``child`` has a residual connection exactly where ``parent``'s has."""
    c = space.config
    return all(is_identity_shaped(parent, c, i, j) == is_identity_shaped(child, c, i, j)
               for i, stage in enumerate(parent.stages) for j in range(stage.depth))


# -- approximate (shrinking) ------------------------------------------------------------------

class RemoveBlock(Morphism):
    """Drop a residual block (x + f(x) becomes x). Site ``(stage, block)``.

    :meth:`refine` keeps the linear part of what the block added: it fits f(x) ~ A x + c by
    least squares on the parent's activations and folds ``I + A`` into the layer that reads
    the block's output (the next block's 1x1 expand convolution, whose BatchNorm mean absorbs
    ``c``, or the classifier, which reads pooled features).
    """

    name = "remove_block"
    function_preserving = False

    def sites(self, genome, space):
        c = space.config
        return [(i, j) for i, j, _ in _blocks(genome)
                if genome.stages[i].depth - 1 in c.depths and is_identity_shaped(genome, c, i, j)]

    def child(self, genome, site):
        i, j = site
        s = genome.stages[i]
        return with_stage(genome, i, replace(s, blocks=s.blocks[:j] + s.blocks[j + 1:]))

    def transfer(self, parent, site, src, dst):
        i, j = site
        copy_mapped(src, dst, lambda si, b: (si, b) if si != i or b < j else (si, b + 1))

    def refine(self, parent, site, model, dst, inputs):
        i, j = site
        x, out = module_io(model, model.stages[i][j], inputs)
        if j + 1 < parent.stages[i].depth or i + 1 < len(parent.stages):
            # the reader's child position: the removed block's own, or the next stage's first block
            reader = block_prefix(i, j) if j + 1 < parent.stages[i].depth else block_prefix(i + 1, 0)
            a, c = linear_fit(_pixels(x), _pixels(out - x))
            w = dst[reader + "expand_conv.weight"][:, :, 0, 0].double()
            dst[reader + "expand_conv.weight"] = (w @ (torch.eye(len(a), dtype=a.dtype) + a)).float()[:, :, None, None]
            dst[reader + "expand_bn.running_mean"] -= (w @ c).float()
        else:
            a, c = linear_fit(x.mean(dim=(2, 3)), (out - x).mean(dim=(2, 3)))
            w = dst["classifier.weight"].double()
            dst["classifier.weight"] = (w @ (torch.eye(len(a), dtype=a.dtype) + a)).float()
            dst["classifier.bias"] += (w @ c).float()


class PruneExpand(Morphism):
    """Lower a block's expand ratio, keeping the most important hidden channels.

    Importance of hidden channel c: the L1 norm of its projection weights times the
    magnitude of its depthwise BatchNorm scale, ``|W_proj[:, c]|_1 * |gamma_c| /
    sqrt(var_c + eps)``, i.e. how strongly a unit-size change of the channel's
    normalised input reaches the block output. Squeeze-excite's squeezed units shrink with
    it, keeping those with the largest L1 norm of outgoing weights to the kept channels.
    Site ``(stage, block, new_expand)``.
    """

    name = "prune_expand"
    function_preserving = False

    def sites(self, genome, space):
        return [(i, j, e) for i, j, b in _blocks(genome) for e in space.config.expands if e < b.expand]

    def child(self, genome, site):
        i, j, e = site
        return with_block(genome, i, j, replace(genome.stages[i].blocks[j], expand=e))

    def transfer(self, parent, site, src, dst):
        i, j, e = site
        p = block_prefix(i, j)
        copy_mapped(src, dst, skip=(p,))
        _prune_block(src, dst, p, hidden=_top(channel_importance(src, p), block_in_channels(parent, i, j) * e))


def channel_importance(state: StateDict, prefix: str, eps: float = 1e-5) -> torch.Tensor:
    """Importance of each hidden channel of a block (see :class:`PruneExpand`)."""
    proj = state[prefix + "project_conv.weight"].abs().sum(dim=(0, 2, 3))
    scale = state[prefix + "dw_bn.weight"].abs() / torch.sqrt(state[prefix + "dw_bn.running_var"] + eps)
    return proj * scale


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` largest scores, in ascending index order (ties: lower index)."""
    order = torch.argsort(-scores, stable=True)[:k]
    return torch.sort(order).values


def _prune_block(src: StateDict, dst: StateDict, p: str, inputs: torch.Tensor | None = None,
                 hidden: torch.Tensor | None = None, outputs: torch.Tensor | None = None) -> None:
    """Carry block ``p`` over keeping only the given input, hidden and output channels (``None``:
    all). Squeeze-excite shrinks with the hidden channels, keeping the squeezed units with the
    largest L1 norm of outgoing weights to the kept channels."""
    keep_h = slice(None) if hidden is None else hidden
    keep_in = slice(None) if inputs is None else inputs
    keep_out = slice(None) if outputs is None else outputs
    dst[p + "expand_conv.weight"] = src[p + "expand_conv.weight"][keep_h][:, keep_in].clone()
    for name in ("dw_conv.weight", *_bn("expand_bn"), *_bn("dw_bn")):
        dst[p + name] = src[p + name][keep_h].clone()
    dst[p + "project_conv.weight"] = src[p + "project_conv.weight"][keep_out][:, keep_h].clone()
    for name in _bn("project_bn"):
        dst[p + name] = src[p + name][keep_out].clone()
    for bn in ("expand_bn", "dw_bn", "project_bn"):
        dst[p + bn + ".num_batches_tracked"] = src[p + bn + ".num_batches_tracked"].clone()
    if p + "se.reduce.weight" in src:
        expand_w = src[p + "se.expand.weight"][keep_h]
        units = _top(expand_w.abs().sum(dim=(0, 2, 3)), make_divisible(expand_w.shape[0] / 4))
        dst[p + "se.reduce.weight"] = src[p + "se.reduce.weight"][units][:, keep_h].clone()
        dst[p + "se.reduce.bias"] = src[p + "se.reduce.bias"][units].clone()
        dst[p + "se.expand.weight"] = expand_w[:, units].clone()
        dst[p + "se.expand.bias"] = src[p + "se.expand.bias"][keep_h].clone()


def _bn_scale(state: StateDict, bn: str, eps: float = 1e-5) -> torch.Tensor:
    """``|gamma| / sqrt(var + eps)``: how strongly a BatchNorm passes each channel on."""
    return state[bn + ".weight"].abs() / torch.sqrt(state[bn + ".running_var"] + eps)


def _narrow_consumer(src: StateDict, dst: StateDict, parent: Genome, stage: int, prefix: str,
                     keep: torch.Tensor) -> None:
    """The layer reading a narrowed output keeps the kept input channels; a block's hidden width
    (``in x expand``) shrinks with its input, keeping its most important hidden channels."""
    if prefix == "classifier.":
        dst["classifier.weight"] = src["classifier.weight"][:, keep].clone()
        dst["classifier.bias"] = src["classifier.bias"].clone()
        return
    mid = len(keep) * parent.stages[stage].blocks[0].expand
    _prune_block(src, dst, prefix, inputs=keep, hidden=_top(channel_importance(src, prefix), mid))


def _consumer_weight(src: StateDict, prefix: str) -> torch.Tensor:
    """The consumer's L1 weight on each of its input channels."""
    w = src["classifier.weight"] if prefix == "classifier." else src[prefix + "expand_conv.weight"]
    return w.abs().sum(dim=tuple(d for d in range(w.dim()) if d != 1))


class NarrowStage(_StageWidth):
    """Narrow a stage's output channels, the approximate inverse of :class:`WidenStage`.

    Channel ``c`` of the stage's output is scored by how strongly it is produced and used:
    the sum over the stage's blocks of their output BatchNorm scale ``|gamma_c| / sqrt(var_c +
    eps)`` times the L1 norm of the consumer's weights on ``c`` (the next stage's expansion or
    the classifier). The highest-scoring ``width`` channels are kept in every block of the stage
    (their residual sums stay aligned); blocks whose input narrows also lose hidden channels
    (``in x expand``), the least important by :func:`channel_importance`. The child is repaired
    by distillation from the parent. Site ``(stage, new_width)``; sites that would add or remove
    a residual connection are excluded.
    """

    name = "narrow_stage"
    function_preserving = False
    wider = False

    def transfer(self, parent, site, src, dst):
        _narrow_chain(parent, site[0], site[0], site[1], src, dst)


class NarrowStem(_StemWidth):
    """Narrow the stem, as :class:`NarrowStage` does a stage. Site ``(new_width,)``."""

    name = "narrow_stem"
    function_preserving = False
    wider = False

    def transfer(self, parent, site, src, dst):
        _narrow_chain(parent, -1, -1, site[0], src, dst)


class NarrowChain(_ChainWidth):
    """Narrow a residual chain together, the approximate inverse of :class:`WidenChain`: the
    channels are scored as in :class:`NarrowStage`, summed over every member's producers, and
    the same channels are kept in all of them. Site ``(first, last, new_width)``."""

    name = "narrow_chain"
    function_preserving = False
    wider = False

    def transfer(self, parent, site, src, dst):
        _narrow_chain(parent, *site, src, dst)


def _narrow_chain(parent: Genome, first: int, last: int, width: int, src: StateDict, dst: StateDict) -> None:
    """Keep the ``width`` most important output channels of members ``first..last`` (``-1`` the
    stem) in every one of them; blocks whose input narrows also lose hidden channels."""
    prefixes, consumer = _chain_layout(parent, first, last)
    producers = [p + "project_bn" for p in prefixes.values()] + (["stem.1"] if first < 0 else [])
    keep = _top(sum(_bn_scale(src, bn) for bn in producers) * _consumer_weight(src, consumer), width)
    _copy_chain_rest(src, dst, first, prefixes, consumer, keep)
    for (i, j), p in prefixes.items():
        if j > 0 or i > first:
            mid = width * parent.stages[i].blocks[j].expand
            _prune_block(src, dst, p, inputs=keep, hidden=_top(channel_importance(src, p), mid), outputs=keep)
        else:
            _prune_block(src, dst, p, outputs=keep)
    _narrow_consumer(src, dst, parent, last + 1, consumer, keep)


class SwapActivation(Morphism):
    """Switch a stage between ReLU and h-swish, keeping every weight (an approximate morphism:
    ``hswish(x) = x * relu6(x + 3) / 6`` equals ``relu(x)`` for ``x <= -3`` and ``x >= 3`` and
    differs in between), repaired by distillation. Site ``(stage,)``."""

    name = "swap_activation"
    function_preserving = False

    def sites(self, genome, space):
        return [(i,) for i in range(len(genome.stages))]

    def child(self, genome, site):
        (i,) = site
        return with_stage(genome, i, replace(genome.stages[i], act=genome.stages[i].act.other))

    def transfer(self, parent, site, src, dst):
        copy_mapped(src, dst)


class ShrinkKernel(Morphism):
    """Shrink a depthwise kernel to its centre. Site ``(stage, block, new_kernel)``.

    :meth:`refine` replaces the plain crop by each channel's least-squares fit of the smaller
    kernel to the larger one's output on the parent's activations (the dropped outer taps'
    share is moved to the inner taps their inputs correlate with).
    """

    name = "shrink_kernel"
    function_preserving = False

    def sites(self, genome, space):
        return [(i, j, k) for i, j, b in _blocks(genome) for k in space.config.kernels if k < b.kernel]

    def child(self, genome, site):
        i, j, k = site
        return with_block(genome, i, j, replace(genome.stages[i].blocks[j], kernel=k))

    def transfer(self, parent, site, src, dst):
        i, j, _ = site
        key = block_prefix(i, j) + "dw_conv.weight"
        copy_mapped(src, dst, skip=(key,))
        old, new = src[key].shape[-1], dst[key].shape[-1]
        crop = (old - new) // 2
        dst[key] = src[key][..., crop:crop + new, crop:crop + new].clone()

    def refine(self, parent, site, model, dst, inputs):
        i, j, new = site
        conv = model.stages[i][j].dw_conv
        h, _ = module_io(model, conv, inputs)
        old, channels = conv.kernel_size[0], conv.in_channels
        gram = torch.zeros(channels, old * old, old * old, dtype=torch.float64)
        for chunk in h.split(64):  # patches of the whole sample at once can take gigabytes
            patches = F.unfold(chunk, old, padding=old // 2, stride=conv.stride).double()
            patches = patches.view(len(chunk), channels, old * old, -1)
            gram += torch.einsum("ncpl,ncql->cpq", patches, patches)
        crop = (old - new) // 2
        inner = torch.arange(old * old).view(old, old)[crop:crop + new, crop:crop + new].reshape(-1)
        target = gram[:, inner, :] @ conv.weight.reshape(channels, old * old, 1).double()
        fitted = ridge_solve(gram[:, inner][:, :, inner], target)
        dst[block_prefix(i, j) + "dw_conv.weight"] = fitted.view(channels, 1, new, new).float()


class RemoveSqueezeExcite(Morphism):
    """Switch squeeze-excite off for a stage (every gate becomes 1). Site ``(stage,)``."""

    name = "remove_se"
    function_preserving = False

    def sites(self, genome, space):
        return [(i,) for i, s in enumerate(genome.stages) if s.se]

    def child(self, genome, site):
        (i,) = site
        return with_stage(genome, i, replace(genome.stages[i], se=False))

    def transfer(self, parent, site, src, dst):
        copy_mapped(src, dst)


# -- least squares on the parent's activations (RemoveBlock.refine, ShrinkKernel.refine) --------

@torch.no_grad()
def module_io(model: MobileNetLike, module: nn.Module, inputs: torch.Tensor,
              batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The input and output of ``module`` (a part of ``model``, in eval mode) over ``inputs``."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    handle = module.register_forward_hook(lambda m, args, out: seen.append((args[0], out)))
    try:
        for start in range(0, len(inputs), batch_size):
            with gate.computing():
                model(inputs[start:start + batch_size])
    finally:
        handle.remove()
    return torch.cat([a for a, _ in seen]), torch.cat([b for _, b in seen])


def ridge_solve(gram: torch.Tensor, rhs: torch.Tensor, ridge: float = 1e-3) -> torch.Tensor:
    """Solve ``(gram + ridge * mean(diag(gram)) * I) w = rhs``, batched over leading dimensions.

    The small ridge keeps the solve stable where inputs are collinear (dead or duplicated channels).
    """
    n = gram.shape[-1]
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)[..., None, None]
    return torch.linalg.solve(gram + ridge * scale * torch.eye(n, dtype=gram.dtype), rhs)


def linear_fit(x: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, c)`` minimising ``|f - (x A^T + c)|^2`` over the rows of ``x`` (n, d) and ``f`` (n, e), in float64."""
    x, f = x.double(), f.double()
    x_mean, f_mean = x.mean(0), f.mean(0)
    xc, fc = x - x_mean, f - f_mean
    a = ridge_solve(xc.T @ xc, xc.T @ fc).T
    return a, f_mean - a @ x_mean


def _pixels(t: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N*H*W, C): every pixel a row."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


def _bn(name: str) -> tuple[str, ...]:
    return tuple(f"{name}.{t}" for t in ("weight", "bias", "running_mean", "running_var"))


FUNCTION_PRESERVING: tuple[Morphism, ...] = (InsertBlock(), WidenExpand(), GrowKernel(), AddSqueezeExcite(),
                                              WidenStage(), WidenStem(), WidenChain())
APPROXIMATE: tuple[Morphism, ...] = (RemoveBlock(), PruneExpand(), ShrinkKernel(), RemoveSqueezeExcite(),
                                      NarrowStage(), NarrowStem(), NarrowChain(), SwapActivation())
MORPHISMS: tuple[Morphism, ...] = FUNCTION_PRESERVING + APPROXIMATE
