"""Users are shown only public names: the Python blocks of README.md and docs/, and examples/, import nothing private.

Public means a name in ``evonas.__all__``, imported as ``import evonas`` (then ``evonas.NAME``) or
``from evonas import NAME``; the standard library and installed third-party packages (numpy,
torch, ...) are allowed too. Every public name resolves and carries a docstring.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

import evonas

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"evonas", "hardware", "morphisms", "populations"}
"""The project's top-level packages: only ``evonas`` itself, and only its public names, may be used."""
PUBLIC = set(evonas.__all__) | {"__version__"}


def sources() -> dict[str, str]:
    """Label -> Python source of every example script and every ```python block of README.md and docs/
    (a block that only includes an example, ``--8<-- "examples/x.py"``, is checked as that example)."""
    found = {f"examples/{p.name}": p.read_text() for p in sorted((ROOT / "examples").glob("*.py"))}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
        found.update({f"{page.relative_to(ROOT)} block {i}": text for i, text in enumerate(blocks)
                      if not text.lstrip().startswith("--8<--")})
    return found


def third_party(top: str) -> bool:
    return top not in PROJECT and top in importlib.metadata.packages_distributions()


def allowed_module(module: str) -> bool:
    top = module.split(".")[0]
    return module == "evonas" or top == "__future__" or top in sys.stdlib_module_names or third_party(top)


def private_uses(source: str, label: str) -> list[str]:
    """Every import of a non-public module or name, and every ``evonas.X`` with X not public."""
    bad = []
    for node in ast.walk(ast.parse(source, label)):
        if isinstance(node, ast.Import):
            bad += [f"line {node.lineno}: import {a.name}" for a in node.names if not allowed_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if not allowed_module(module) or node.level:
                bad.append(f"line {node.lineno}: from {module} import ...")
            elif module == "evonas":
                bad += [f"line {node.lineno}: from evonas import {a.name}" for a in node.names if a.name not in PUBLIC]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "evonas":
            if node.attr not in PUBLIC:
                bad.append(f"line {node.lineno}: evonas.{node.attr}")
    return bad


SOURCES = sources()


def test_readme_and_examples_are_found():
    assert sum(label.startswith("examples/") for label in SOURCES) >= 5
    assert sum(label.startswith("README") for label in SOURCES) >= 2
    assert sum(label.startswith("docs") for label in SOURCES) >= 2


@pytest.mark.parametrize("label", sorted(SOURCES))
def test_uses_only_public_names(label):
    assert private_uses(SOURCES[label], label) == []


def test_the_check_catches_private_paths():
    snippet = ("import os, numpy\nimport evonas\nimport evonas.cli\nfrom hardware.external import ExternalTarget\n"
               "from evonas.mobilenet.space import Genome\nfrom evonas import Study, _PUBLIC\nfrom . import sibling\n"
               "import my_private_module\nevonas.Study\nevonas.testing.check_strategy\n")
    assert private_uses(snippet, "probe") == [
        "line 3: import evonas.cli", "line 4: from hardware.external import ...",
        "line 5: from evonas.mobilenet.space import ...", "line 6: from evonas import _PUBLIC",
        "line 7: from . import ...", "line 8: import my_private_module", "line 10: evonas.testing"]


@pytest.mark.parametrize("name", evonas.__all__)
def test_every_public_name_resolves_and_is_documented(name):
    value = getattr(evonas, name)
    assert (getattr(value, "__doc__", None) or "").strip(), f"evonas.{name} has no docstring"


def test_the_names_users_are_told_to_use_are_public():
    assert {"ExternalTarget", "CallableTarget", "build_network", "check_strategy", "check_target",
            "Strategy"} <= set(evonas.__all__)
