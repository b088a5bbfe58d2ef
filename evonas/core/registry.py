"""One registry mechanism for every kind of plug-in: built-in names, outside packages, module paths.

A :class:`Registry` maps names to lazy ``"module:attr"`` strings, imported on first use (so a
table-backed search never imports torch). Three sources answer a name, in this order:

1. the built-in table the registry was made with;
2. the entry points of its group (``evonas.strategies``, ``evonas.problems``, ``evonas.targets``,
   ``evonas.objectives``, ``evonas.morphisms``), read once, on first need, with
   :func:`importlib.metadata.entry_points`. A built-in name wins over an entry point of the
   same name; the shadowed entry point is ignored with a :class:`RegistryWarning` naming it;
3. a module path ``package.module:attr`` given as the name itself.

An unknown name or a path that cannot be imported is a :class:`~evonas.core.errors.UserError`
of one line (the CLI prints it and exits with code 2, before anything is written).
"""

from __future__ import annotations

import importlib
import warnings
from importlib import metadata
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from evonas.core.errors import UserError


class RegistryWarning(UserWarning):
    """An entry point that was ignored (its name is built in, or another entry point took it)."""


def is_path(name: str) -> bool:
    """Whether ``name`` is a module path ``module:attr`` rather than a registered name."""
    return ":" in name


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def resolve(spec: str, kind: str = "plug-in") -> Any:
    """Import ``"module:attr.attr"`` and return the object.

    Raises:
        UserError: the module or attribute cannot be imported (one line naming ``spec``).
    """
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise UserError(f"cannot load {kind} {spec!r}: expected module:attribute")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 - any import-time failure of user code is one line
        raise UserError(f"cannot load {kind} {spec!r}: {_one_line(exc)}") from None
    return obj


class Registry:
    """Names of one kind of plug-in -> the plug-ins, imported lazily.

    Args:
        kind: what the plug-ins are, as messages name them ("strategy", "target").
        group: the entry-point group outside packages register in (None: built-ins and paths only).
        entries: the built-in names -> ``"module:attr"`` strings.
    """

    def __init__(self, kind: str, group: str | None, entries: Mapping[str, str]):
        self.kind = kind
        self.group = group
        self.entries: Mapping[str, str] = MappingProxyType(dict(entries))
        self._outside: dict[str, metadata.EntryPoint] | None = None

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.group!r}, {len(self.entries)} built-in)"

    def outside(self) -> Mapping[str, metadata.EntryPoint]:
        """The entry points of :attr:`group` by name (read once; built-in names excluded)."""
        if self._outside is None:
            self._outside = self._read_entry_points()
        return MappingProxyType(self._outside)

    def _read_entry_points(self) -> dict[str, metadata.EntryPoint]:
        found: dict[str, metadata.EntryPoint] = {}
        if self.group is None:
            return found
        for ep in metadata.entry_points(group=self.group):
            if ep.name in self.entries or ep.name in found:
                taken = "is built in" if ep.name in self.entries else f"is taken by {found[ep.name].value}"
                warnings.warn(f"entry point {ep.name} = {ep.value} of group {self.group} is ignored: "
                              f"{self.kind} {ep.name!r} {taken}", RegistryWarning, stacklevel=3)
                continue
            found[ep.name] = ep
        return found

    def refresh(self) -> None:
        """Forget the entry points read, so the next use reads them again (after an install)."""
        self._outside = None

    def names(self) -> tuple[str, ...]:
        """Every registered name, built-in and from entry points, sorted."""
        return tuple(sorted({*self.entries, *self.outside()}))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.entries or name in self.outside())

    def check(self, name: str) -> None:
        """Raise :class:`UserError` unless ``name`` is registered or an importable path (registered
        names are not imported, so checking a built-in never pays for its dependencies)."""
        if name not in self:
            self.get(name)

    def get(self, name: str) -> Any:
        """The plug-in called ``name``: built-in, from an entry point, or imported from ``module:attr``.

        Raises:
            UserError: an unknown name (listing the choices) or a path that cannot be imported.
        """
        if name in self.entries:
            return resolve(self.entries[name], self.kind)
        outside = self.outside()
        if name in outside:
            try:
                return outside[name].load()
            except Exception as exc:  # noqa: BLE001 - a broken outside package is one line
                raise UserError(f"cannot load {self.kind} {name!r} (entry point {outside[name].value}): "
                                f"{_one_line(exc)}") from None
        if is_path(name):
            return resolve(name, self.kind)
        raise UserError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())} "
                        "(or give a module:attr path)")
