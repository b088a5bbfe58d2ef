"""Plug-in options, declared once where the plug-in is defined.

A plug-in (strategy, problem factory, target factory) declares its options as the keyword
parameters of its constructor or factory: the signature gives name, type and default, and
the ``Args:`` section of its docstring gives the help text. A parameter whose type is a
dataclass (a target's ``TimingProtocol``) contributes that dataclass's fields, documented
under its ``Attributes:``. :func:`options_of` reads all this, so the CLI derives ``--flag``
and ``--help`` from the same declaration that the Python API calls, :func:`instantiate`
builds the plug-in from flat option values, and the conformance suite checks that every
option is documented.

A numeric option declares its allowed values in its annotation, e.g.
``population: Annotated[int, Range(2)] = 10``: the CLI, :func:`instantiate` and
:func:`check_instance` (which strategies run at start-up, before anything is written) refuse
any other value with one line naming the option and the range.

An option annotated with :class:`~evonas.core.objectives.Objective` (e.g. LEMONADE's ``prior``)
takes an ``Objective`` object in Python; on the command line and in a stored run spec it is
the *name* of a registered objective, which the API's edge (:mod:`evonas.api.spec`) resolves
to the object before the plug-in is built. A plug-in object itself must hold the object
(:func:`check_instance` refuses a name).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import inspect
import math
import numbers
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

from evonas.core.errors import UserError
from evonas.core.objectives import Objective

RESERVED = frozenset({"self", "objectives", "seed", "constraints"})
"""Parameters a factory receives from the shared run config, never from its own options."""


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric option: ``low <= value <= high``, either end open (None).

    With ``exclusive``, the ends themselves are not allowed (``low < value < high``). NaN is
    never allowed; infinity only where the range has no end on that side.
    """

    low: float | None = None
    high: float | None = None
    exclusive: bool = False

    def allows(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.exclusive:
            return (self.low is None or value > self.low) and (self.high is None or value < self.high)
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        low, high = _number(self.low), _number(self.high)
        if self.low is not None and self.high is not None:
            return f"{'strictly ' if self.exclusive else ''}between {low} and {high}"
        if self.low is not None:
            return f"{'greater than' if self.exclusive else 'at least'} {low}"
        if self.high is not None:
            return f"{'less than' if self.exclusive else 'at most'} {high}"
        return "a number"


def _number(value: float | None) -> str:
    """``value`` as a person writes it: 1000000, 0.02, 1e+300."""
    if value is not None and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if value is not None else ""


@dataclass(frozen=True)
class Option:
    """One declared option of a plug-in.

    Attributes:
        name: the parameter name (the CLI flag is ``--name`` with '_' as '-').
        type: the base type: int, float, str, bool, tuple (comma-separated strings), or
            :class:`~evonas.core.objectives.Objective` (given by a registered objective's name).
        default: the default value.
        help: the docstring text for it ('' if undocumented).
        optional: ``None`` is allowed.
        parent: the dataclass parameter this option is a field of (``None`` for a plain parameter).
        range: the allowed values of a numeric option (``None``: any).
    """

    name: str
    type: type
    default: Any
    help: str
    optional: bool = False
    parent: str | None = None
    range: Range | None = None

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
            if self.type is Objective:
                return _objective_name(text)
            value = self.type(text)
        except ValueError:
            raise UserError(f"{self.flag} expects {self.type.__name__}, got {text!r}") from None
        if self.range is not None and not self.range.allows(value):
            raise UserError(f"{self.flag} must be {self.range}, got {text}")
        return value


def _objective_name(text: str) -> str:
    """A registered objective's name as given (checked against the registry at the API's edge)."""
    if not text.strip():
        raise ValueError(text)
    return text.strip()


def _range(hint: Any) -> tuple[Any, Range | None]:
    """A hint without its ``Annotated`` wrapper, and the :class:`Range` it declares."""
    if typing.get_origin(hint) is not typing.Annotated:
        return hint, None
    base, *extras = typing.get_args(hint)
    return base, next((e for e in extras if isinstance(e, Range)), None)


def _base_type(hint: Any) -> tuple[type | None, bool]:
    """(base type, optional) of a type hint, or (None, _) when the CLI cannot express it."""
    hint = _range(hint)[0]
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        base, _ = _base_type(rest[0]) if len(rest) == 1 else (None, False)
        return base, True
    if hint in (int, float, str, bool, Objective):
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
        if re.fullmatch(r"(Args|Arguments|Attributes|Options):\s*", line):
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


def _parameters(plugin: Callable) -> list[tuple[inspect.Parameter, Any]]:
    """(parameter, type hint) of a plug-in's constructor or factory, reserved ones left out."""
    target = plugin.__init__ if inspect.isclass(plugin) else plugin
    hints = typing.get_type_hints(target, include_extras=True)
    return [(p, hints.get(p.name, type(p.default))) for p in inspect.signature(target).parameters.values()
            if p.name not in RESERVED and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _nested(hint: Any) -> type | None:
    """The dataclass type of a parameter whose fields are options, if it is one."""
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def options_of(plugin: Callable) -> tuple[Option, ...]:
    """The CLI-expressible options of a plug-in class or factory function.

    Parameters whose type the CLI cannot express (dicts, objects) stay Python-only; so do
    the :data:`RESERVED` ones, which come from the shared run config.
    """
    helps = _docstring_args(plugin)
    if inspect.isclass(plugin):
        helps = {**_docstring_args(plugin.__init__), **helps}
    out = []
    for p, hint in _parameters(plugin):
        if p.default is p.empty:
            continue
        nested = _nested(hint)
        if nested is not None:
            docs = _docstring_args(nested)
            hints = typing.get_type_hints(nested, include_extras=True)
            for f in dataclasses.fields(nested):
                base, optional = _base_type(hints.get(f.name))
                if base is not None and f.default is not dataclasses.MISSING:
                    out.append(Option(f.name, base, f.default, docs.get(f.name, ""), optional, p.name,
                                      _range(hints.get(f.name))[1]))
            continue
        base, optional = _base_type(hint)
        if base is None:
            continue
        out.append(Option(p.name, base, p.default, helps.get(p.name, ""), optional or p.default is None,
                          range=_range(hint)[1]))
    return tuple(out)


def check_value(option: Option, value: Any, names: bool = True) -> None:
    """Raise :class:`UserError` unless ``value`` has ``option``'s type (ints pass for floats).

    With ``names``, an :class:`~evonas.core.objectives.Objective` option may hold an objective's
    name (a run spec's value, resolved later); without, only the object passes.
    """
    if value is None and option.optional:
        return
    if option.type is Objective:
        ok = isinstance(value, Objective) or (names and isinstance(value, str) and bool(value.strip()))
    elif option.type is tuple:
        ok = isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value)
    elif option.type is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    elif option.type is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    else:
        ok = isinstance(value, option.type)
    if not ok:
        kind = "an Objective (by name where the command line gives it)" if option.type is Objective \
            else option.type.__name__
        raise UserError(f"option {option.name!r} must be {kind}, got {value!r}")
    if option.range is not None and value is not None and not option.range.allows(value):
        raise UserError(f"{option.flag} must be {option.range}, got {value!r}")


def check_instance(plugin: Any) -> None:
    """Raise :class:`UserError` if an option a plug-in object keeps (under its own name, as
    strategies do) has a wrong type or lies outside its declared range (an objective given by
    name, not resolved to the object, is a wrong type here)."""
    kept = vars(plugin)
    for option in options_of(type(plugin)):
        if option.parent is None and option.name in kept:
            check_value(option, kept[option.name], names=False)


def check_fields(obj: Any) -> None:
    """Raise :class:`UserError` if a field of dataclass ``obj`` has a wrong type or lies outside the
    range its annotation declares (a nested options dataclass calls it from ``__post_init__``)."""
    hints = typing.get_type_hints(type(obj), include_extras=True)
    docs = _docstring_args(type(obj))
    for f in dataclasses.fields(obj):
        base, optional = _base_type(hints.get(f.name))
        if base is not None:
            check_value(Option(f.name, base, f.default, docs.get(f.name, ""), optional,
                               range=_range(hints.get(f.name))[1]), getattr(obj, f.name))


def checked(factory: Callable) -> Callable:
    """Decorate a plug-in factory (a function or a ``from_options`` classmethod's function) so that
    every call, from the CLI or from Python, first checks each declared option's type and range:
    the one place its options are validated."""
    signature = inspect.signature(factory)

    @functools.wraps(factory)
    def call(*args: Any, **kwargs: Any) -> Any:
        given = signature.bind(*args, **kwargs).arguments
        for option in options_of(factory):
            if option.parent is None and option.name in given:
                check_value(option, given[option.name])
        return factory(*args, **kwargs)

    return call


def check_options(plugin: Callable, given: dict[str, Any]) -> None:
    """Raise :class:`UserError` if ``given`` names an option ``plugin`` does not declare, or gives one a wrong type."""
    known = {p.name for p, _ in _parameters(plugin)} | {o.name for o in options_of(plugin)}
    unknown = sorted(set(given) - known)
    if unknown:
        name = getattr(plugin, "__qualname__", str(plugin))
        raise UserError(f"{name} has no option {', '.join(map(repr, unknown))}; "  # repr: a name may hold a newline
                        f"it takes: {', '.join(sorted(known)) or 'none'}")
    for option in options_of(plugin):
        if option.name in given:
            check_value(option, given[option.name])


def instantiate(plugin: Callable, given: dict[str, Any], **reserved: Any) -> Any:
    """Call ``plugin`` with flat option values ``given`` (dataclass fields grouped back into their
    parameter) and the ``reserved`` shared-config arguments it accepts."""
    check_options(plugin, given)
    by_name = {o.name: o for o in options_of(plugin)}
    kwargs: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in given.items():
        option = by_name.get(name)
        if option is not None and option.parent is not None:
            nested.setdefault(option.parent, {})[name] = value
        else:
            kwargs[name] = value
    params = {p.name: (p, hint) for p, hint in _parameters(plugin)}
    for parent, fields in nested.items():
        p, hint = params[parent]
        base = p.default if p.default is not p.empty and p.default is not None else hint()
        kwargs[parent] = dataclasses.replace(base, **fields)
    target = plugin.__init__ if inspect.isclass(plugin) else plugin
    accepted = inspect.signature(target).parameters
    kwargs.update({k: v for k, v in reserved.items() if k in accepted})
    return plugin(**kwargs)
