"""Targets by name: the built-in target factories, entry points of ``evonas.targets``, and
user targets given as ``module:factory``.

:data:`TARGETS` is an :class:`evonas.core.registry.Registry` of lazy ``"module:factory"``
strings, so naming a target imports neither torch nor onnxruntime until it is built. Every
factory, built-in or not, declares its options (see :func:`evonas.core.options.options_of`).
"""

from __future__ import annotations

from typing import Callable

from evonas.core.errors import UserError
from evonas.core.options import instantiate
from evonas.core.registry import Registry

TARGETS = Registry("target", "evonas.targets", {
    "edge-cpu": "hardware.targets:edge_cpu",
    "onnx-cpu": "hardware.targets:onnx_cpu",
    "cpu": "hardware.targets:torch_cpu",
    "gpu": "hardware.gpu:torch_cuda",
    "onnx-gpu": "hardware.gpu:onnx_cuda",
})
"""Target factories by name; each declares its options (see :func:`evonas.core.options.options_of`)."""


def target_factory(name: str) -> Callable:
    """The factory of target ``name``: built-in, from an entry point, or ``package.module:factory``."""
    return TARGETS.get(name)


def get_target(name: str, **options):
    """The target called ``name`` with its ``options``.

    ``name`` is a built-in name, the name of an ``evonas.targets`` entry point, or a user's
    ``package.module:factory`` (importable, e.g. on ``PYTHONPATH``); the factory is called with
    the options it declares and must return a :class:`~hardware.targets.Target` (for a board or
    phone, see :class:`hardware.external.ExternalTarget`).

    Raises:
        UserError: no such target, a factory that cannot be imported, an option it does not
            declare, or a factory that returns something other than a Target.
    """
    from hardware.targets import Target

    target = instantiate(target_factory(name), options)
    if not isinstance(target, Target):
        raise UserError(f"target {name!r} returned {type(target).__name__}, not a hardware.targets.Target")
    return target
