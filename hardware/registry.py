"""Targets by name: the built-in target factories, and user targets given as ``module:factory``.

Kept apart from :mod:`hardware.targets` (the target types and the CPU targets) and
:mod:`hardware.gpu` (built on it), so that the table can hold both without an import loop.
"""

from __future__ import annotations

import importlib
from typing import Callable

from evonas.core.errors import UserError
from evonas.core.options import instantiate
from hardware.gpu import onnx_cuda, torch_cuda
from hardware.targets import Target, edge_cpu, onnx_cpu, torch_cpu

TARGETS: dict[str, Callable[..., Target]] = {
    "edge-cpu": edge_cpu,
    "onnx-cpu": onnx_cpu,
    "cpu": torch_cpu,
    "gpu": torch_cuda,
    "onnx-gpu": onnx_cuda,
}
"""Target factories by name; each declares its options (see :func:`evonas.core.options.options_of`)."""


def get_target(name: str, **options) -> Target:
    """The target called ``name`` with its ``options``, or a user's target given as ``package.module:factory``.

    A ``module:factory`` name imports ``module`` (it must be importable, e.g. on
    ``PYTHONPATH``) and calls ``factory()``, which must return a :class:`Target` (for a
    board or phone, see :class:`hardware.external.ExternalTarget`).

    Raises:
        UserError: no such target.
    """
    if ":" in name:
        if options:
            raise UserError(f"a user target ({name}) takes no target options; its factory configures it")
        return _user_target(name)
    if name not in TARGETS:
        raise UserError(f"unknown target {name!r}; choose one of: {', '.join(sorted(TARGETS))}")
    return instantiate(TARGETS[name], options)


def _user_target(spec: str) -> Target:
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"cannot load target {spec!r}: {exc}") from None
    target = factory()
    if not isinstance(target, Target):
        raise UserError(f"target {spec!r} returned {type(target).__name__}, not a hardware.targets.Target")
    return target
