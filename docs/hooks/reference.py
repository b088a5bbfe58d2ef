"""mkdocs hooks: the CLI and API reference, generated from the code at every build.

``docs/cli.md`` and ``docs/api.md`` hold a marker line; :func:`on_page_markdown` replaces it with
the help of every ``evonas`` subcommand (argparse's own text, from
:func:`evonas.cli.build_parser`), the options every built-in plug-in declares
(:func:`evonas.options_of`, which also makes their flags), and one mkdocstrings directive per
name in ``evonas.__all__``, at the module that defines it. Nothing is written by hand, so
neither page can drift from the code. ``tests/test_docs.py`` calls these functions too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI_MARKER = "<!-- generated: cli -->"
API_MARKER = "<!-- generated: api -->"
WIDTH = "100"  # argparse wraps help at $COLUMNS: fixed, so the page does not depend on the terminal

# the API page's sections, by the package that defines a name (first match wins)
SECTIONS = (
    ("evonas.api", "Running a search"), ("evonas.engine", "Running a search"),
    ("evonas.core", "Ground types"), ("evonas.mobilenet", "The MobileNetV3-like domain"),
    ("evonas.problems", "Benchmark problems"), ("hardware", "Hardware targets and built-in objectives"),
    ("populations", "Strategies"), ("evonas.testing", "Checks for plug-in authors"),
)


def _importable() -> None:
    """Document this checkout, whatever evonas an environment has installed."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def _help(parser: argparse.ArgumentParser) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _fence(text: str) -> str:
    return f"```text\n{text}\n```\n"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def plugin_tables() -> str:
    """One table per built-in strategy, search space, target and schedule: the flags it adds."""
    from evonas.api import registry
    from evonas.core.options import options_of
    from hardware.registry import TARGETS

    kinds = (("Strategies", "--strategy", registry.STRATEGIES), ("Search spaces", "--space", registry.PROBLEMS),
             ("Targets", "--target", TARGETS), ("Schedules", "--schedule", registry.SCHEDULES))
    out = []
    for title, flag, table in kinds:
        out.append(f"### {title} (`{flag}`)\n")
        for name in table.entries:  # built-ins only: installed entry points vary by machine
            options = options_of(table.get(name))
            out.append(f"#### `{flag} {name}`\n")
            if not options:
                out.append("No options of its own.\n")
                continue
            out.append("| flag | type | default | allowed | meaning |\n|---|---|---|---|---|")
            for o in options:
                default = ",".join(map(str, o.default)) if isinstance(o.default, tuple) else o.default
                allowed = "" if o.range is None else o.range
                out.append(f"| `{o.flag}` | {o.type.__name__} | `{_cell(default)}` | {_cell(allowed)} | {_cell(o.help)} |")
            out.append("")
    return "\n".join(out)


def cli_reference() -> str:
    """``evonas --help``, then every subcommand's help, then every built-in plug-in's options."""
    _importable()
    from evonas.cli import build_parser

    parser = build_parser([])  # no subcommand peeked: ``search`` shows its own flags, not a plug-in's
    parts = ["## `evonas`\n", _fence(_help(parser))]
    for name, sub in _subcommands(parser).items():
        parts += [f"## `evonas {name}`\n", _fence(_help(sub))]
    parts += ["## Plug-in options\n",
              "`evonas search` adds the flags of the strategy, search space, target and schedule it is "
              "given (`evonas search --strategy aging --help` lists them); an option of a plug-in not "
              "chosen is an error. These are the built-in plug-ins' options, read from their "
              "constructor signatures and docstrings.\n", plugin_tables()]
    return "\n".join(parts)


def api_names() -> dict[str, tuple[str, str]]:
    """Each public name -> (the module that defines it, its name there), from ``evonas._PUBLIC``."""
    _importable()
    import evonas

    out = {}
    for name in evonas.__all__:
        where = evonas._PUBLIC[name]
        out[name] = where if isinstance(where, tuple) else (where, name)
    return out


def _section(module: str) -> str:
    return next((title for prefix, title in SECTIONS if module == prefix or module.startswith(prefix + ".")), "Other")


FIRST = ("Study", "SearchResult", "Objective", "Constraint", "Problem", "SearchSpace", "Trial", "Strategy",
         "ImageClassification", "MobileNetSpace", "Target")  # each section's entry point leads it


def api_reference() -> str:
    """One ``:::`` directive per public name, grouped by the package that defines it."""
    groups: dict[str, list[str]] = {}
    names = api_names()
    for name in sorted(names, key=lambda n: (n not in FIRST, FIRST.index(n) if n in FIRST else 0, n)):
        module, attr = names[name]
        directive = f"::: {module}.{attr}\n    options:\n      heading: \"evonas.{name}\"\n      toc_label: \"{name}\"\n"
        groups.setdefault(_section(module), []).append(directive)
    order = list(dict.fromkeys(title for _, title in SECTIONS)) + ["Other"]
    return "\n".join(f"## {title}\n\n" + "\n".join(groups[title]) for title in order if title in groups)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """mkdocs hook: fill the generated sections of the CLI and API pages."""
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if API_MARKER in markdown:
        markdown = markdown.replace(API_MARKER, api_reference())
    return markdown
