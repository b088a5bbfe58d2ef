"""Plug-in options, declared once where the plug-in is defined.

A plug-in (strategy, problem factory, target factory) declares its options as the keyword
parameters of its constructor or factory: the signature gives name, type and default, and
the ``Args:`` section of its docstring gives the help text. :func:`options_of` reads both,
so the CLI derives ``--flag`` and ``--help`` from the same declaration that the Python API
calls, and the conformance suite checks that every option is documented.
"""

from __future__ import annotations

import collections.abc
import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

from evonas.core.errors import UserError

RESERVED = frozenset({"self", "objectives", "seed", "constraints"})
"""Parameters a factory receives from the shared run config, never from its own options."""


@dataclass(frozen=True)
class Option:
    """One declared option of a plug-in.

    Attributes:
        name: the parameter name (the CLI flag is ``--name`` with '_' as '-').
        type: the base type: int, float, str, bool, or tuple (comma-separated strings).
        default: the default value.
        help: the docstring text for it ('' if undocumented).
        optional: ``None`` is allowed.
    """

    name: str
    type: type
    default: Any
    help: str
    optional: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, text: str) -> Any:
        """The value of ``text`` for this option; raises :class:`UserError` naming the flag."""
        if self.optional and text.strip().lower() == "none":
            return None
        try:
            if self.type is bool:
                if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(text)
                return text.lower() in ("1", "true", "yes")
            if self.type is tuple:
                return tuple(t.strip() for t in text.split(",") if t.strip())
            return self.type(text)
        except ValueError:
            raise UserError(f"{self.flag} expects {self.type.__name__}, got {text!r}") from None


def _base_type(hint: Any) -> tuple[type | None, bool]:
    """(base type, optional) of a type hint, or (None, _) when the CLI cannot express it."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        base, _ = _base_type(rest[0]) if len(rest) == 1 else (None, False)
        return base, True
    if hint in (int, float, str, bool):
        return hint, False
    if origin in (tuple, list, collections.abc.Sequence) and set(args) <= {str, Ellipsis}:
        return tuple, False
    return None, False


def _docstring_args(obj: Any) -> dict[str, str]:
    """The ``Args:`` entries of a Google-style docstring, name -> one-line text."""
    doc = inspect.getdoc(obj) or ""
    out: dict[str, str] = {}
    inside, current = False, None
    for line in doc.splitlines():
        if re.fullmatch(r"(Args|Arguments|Options):\s*", line):
            inside, current = True, None
            continue
        if inside and line and not line.startswith(" "):
            inside = False
        if not inside:
            continue
        m = re.fullmatch(r"    (\w+)(?: \([^)]*\))?:\s*(.*)", line)
        if m:
            current = m.group(1)
            out[current] = m.group(2).strip()
        elif current and line.startswith("        "):
            out[current] = (out[current] + " " + line.strip()).strip()
    return out


def options_of(plugin: Callable) -> tuple[Option, ...]:
    """The CLI-expressible options of a plug-in class or factory function.

    Parameters whose type the CLI cannot express (dicts, objects) stay Python-only; so do
    the :data:`RESERVED` ones, which come from the shared run config.
    """
    target = plugin.__init__ if inspect.isclass(plugin) else plugin
    hints = typing.get_type_hints(target)
    helps = _docstring_args(plugin)
    if inspect.isclass(plugin):
        helps = {**_docstring_args(plugin.__init__), **helps}
    out = []
    for p in inspect.signature(target).parameters.values():
        if p.name in RESERVED or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is p.empty:
            continue
        base, optional = _base_type(hints.get(p.name, type(p.default)))
        if base is None:
            continue
        out.append(Option(p.name, base, p.default, helps.get(p.name, ""), optional or p.default is None))
    return tuple(out)


def check_options(plugin: Callable, given: dict[str, Any]) -> None:
    """Raise :class:`UserError` if ``given`` names an option ``plugin`` does not declare."""
    target = plugin.__init__ if inspect.isclass(plugin) else plugin
    known = set(inspect.signature(target).parameters) - RESERVED
    unknown = sorted(set(given) - known)
    if unknown:
        name = getattr(plugin, "__name__", str(plugin))
        raise UserError(f"{name} has no option {', '.join(unknown)}; it takes: {', '.join(sorted(known)) or 'none'}")
