"""Morphisms by name: the built-in operators, entry points of ``evonas.morphisms``, and
``module:Class`` paths.

Entries of :data:`MORPHISM_REGISTRY` name :class:`~morphisms.base.Morphism` classes (or
instances); :func:`morphism` returns an instance. :data:`morphisms.operators.MORPHISMS` stays
the tuple of built-in instances LEMONADE uses by default.
"""

from __future__ import annotations

from typing import Any

from evonas.core.errors import UserError
from evonas.core.registry import Registry

MORPHISM_REGISTRY = Registry("morphism", "evonas.morphisms", {
    name: f"morphisms.operators:{cls}" for name, cls in (
        ("insert_block", "InsertBlock"), ("widen_expand", "WidenExpand"), ("grow_kernel", "GrowKernel"),
        ("add_se", "AddSqueezeExcite"), ("widen_stage", "WidenStage"), ("widen_stem", "WidenStem"),
        ("widen_chain", "WidenChain"), ("remove_block", "RemoveBlock"), ("prune_expand", "PruneExpand"),
        ("shrink_kernel", "ShrinkKernel"), ("remove_se", "RemoveSqueezeExcite"), ("narrow_stage", "NarrowStage"),
        ("narrow_stem", "NarrowStem"), ("narrow_chain", "NarrowChain"), ("swap_activation", "SwapActivation"))
})
"""Built-in operators by their ``name``, in the order of :data:`morphisms.operators.MORPHISMS`."""


def morphism(name: str) -> Any:
    """An instance of the morphism called ``name`` (a registered name or ``module:Class``).

    Raises:
        UserError: unknown name, a path that cannot be imported, or something that is not a Morphism.
    """
    from morphisms.base import Morphism

    found = MORPHISM_REGISTRY.get(name)
    if isinstance(found, type) and issubclass(found, Morphism):
        found = found()
    if not isinstance(found, Morphism):
        kind = found.__name__ if isinstance(found, type) else type(found).__name__
        raise UserError(f"morphism {name!r} is a {kind}, not a morphisms.base.Morphism")
    return found
