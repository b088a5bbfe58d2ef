"""Network morphisms: operators mapping (genome, trained weights) to (child genome, child weights).

See :mod:`morphisms.base` for the abstraction, :mod:`morphisms.operators` for the
operators of the MobileNetV3-like space and :mod:`evonas.mobilenet.distill` for distillation.
"""

from morphisms.base import Morphism, MorphismPlan, MorphismStep
from morphisms.operators import (APPROXIMATE, FUNCTION_PRESERVING, MORPHISMS, AddSqueezeExcite, GrowKernel,
                                 InsertBlock, NarrowChain, NarrowStage, NarrowStem, PruneExpand, RemoveBlock,
                                 RemoveSqueezeExcite, ShrinkKernel, SwapActivation, WidenExpand, WidenChain,
                                 WidenStage, WidenStem)
from morphisms.registry import MORPHISM_REGISTRY, morphism

__all__ = ["MORPHISM_REGISTRY", "morphism", "Morphism", "MorphismPlan", "MorphismStep", "MORPHISMS",
           "FUNCTION_PRESERVING", "APPROXIMATE",
           "InsertBlock", "WidenExpand", "GrowKernel", "AddSqueezeExcite", "RemoveBlock", "PruneExpand",
           "ShrinkKernel", "RemoveSqueezeExcite", "WidenStage", "WidenStem", "WidenChain", "NarrowStage", "NarrowStem",
           "NarrowChain", "SwapActivation"]
