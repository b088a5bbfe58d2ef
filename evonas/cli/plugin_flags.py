"""Command-line flags derived from plug-ins' declared options (:func:`evonas.core.options.options_of`)."""

from __future__ import annotations

import argparse
from typing import Any, Callable, Sequence

from evonas.core.errors import UserError
from evonas.core.options import Option, options_of


def _parser_type(option: Option) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return option.parse(text)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.type.__name__
    return parse


def add_plugin_flags(parser: argparse.ArgumentParser, plugin: Callable, group: str, title: str) -> None:
    """Add one ``--flag`` per option of ``plugin``; values land in ``args.<group>.<name>``."""
    section = parser.add_argument_group(title)
    for option in options_of(plugin):
        default = ",".join(option.default) if isinstance(option.default, tuple) else option.default
        try:
            section.add_argument(option.flag, dest=f"{group}.{option.name}", type=_parser_type(option),
                                 default=None, metavar=option.type.__name__.upper(),
                                 help=f"{option.help} [{_allowed(option)}default: {default}]".replace("%", "%%"))
        except argparse.ArgumentError:
            raise UserError(f"{title}: option {option.flag} clashes with another flag") from None


def _allowed(option: Option) -> str:
    return "" if option.range is None else f"{option.range}; "


def given_options(args: argparse.Namespace, group: str) -> dict[str, Any]:
    """The options of ``group`` the user gave on the command line."""
    prefix = group + "."
    return {k[len(prefix):]: v for k, v in vars(args).items() if k.startswith(prefix) and v is not None}


def peek(argv: Sequence[str], flag: str, default: str | None) -> str | None:
    """The value of ``flag`` in ``argv`` before parsing (to know which plug-ins' flags to add)."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return default
