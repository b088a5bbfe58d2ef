"""The dependencies declared in pyproject.toml match the imports of the installed packages.

Every third-party module imported anywhere in ``evonas/``, ``hardware/``, ``morphisms/`` and
``populations/`` (also inside functions: lazy imports are still dependencies) is a core
dependency, or an optional one imported only where its extra is needed; every core dependency
is imported somewhere. Imports are read with :mod:`ast`, so nothing is imported to check.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("evonas", "hardware", "morphisms", "populations")

MODULE_OF = {"scikit-learn": "sklearn", "pyyaml": "yaml", "pillow": "PIL"}
"""Import names of the distributions whose import name differs from their (normalised) name."""

OPTIONAL = {
    "ray": ("ray", {"evonas/engine/ray_executor.py"}),
    "playwright": ("test", {"evonas/report/browser.py"}),
    "pytest": ("test", {"evonas/testing/conformance.py"}),
    "optuna": ("peers", {"populations/optuna_peers.py"}),  # Optuna's samplers as peers (evonas benchmark --peers)
}
"""Modules that are not core dependencies: module -> (the extra that declares it, the only files
that may import it)."""

USED_THROUGH = {"onnxscript": "torch"}
"""Core dependencies that evonas never imports itself: module -> the dependency that imports it
(torch.onnx.export(dynamo=True) needs onnxscript but does not require it)."""


def third_party_imports(sources: dict[str, str]) -> dict[str, set[str]]:
    """Top-level third-party module -> the files (of ``sources``: path -> text) importing it."""
    found: dict[str, set[str]] = defaultdict(set)
    for path, text in sources.items():
        for node in ast.walk(ast.parse(text, path)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names}:
                if top not in sys.stdlib_module_names and top not in PACKAGES and top != "__future__":
                    found[top].add(path)
    return dict(found)


def module_of(requirement: str) -> str:
    """The import name of a requirement string such as ``"scikit-learn>=1.3"``."""
    name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group(0)).lower()
    return MODULE_OF.get(name, name)


def mismatches(imports: dict[str, set[str]], core: list[str], extras: dict[str, list[str]]) -> list[str]:
    """Every disagreement between the ``imports`` and the declared ``core`` and ``extras``."""
    core_modules = {module_of(r) for r in core}
    bad = []
    for module, files in sorted(imports.items()):
        if module in OPTIONAL:
            extra, allowed = OPTIONAL[module]
            if module not in {module_of(r) for r in extras.get(extra, [])}:
                bad.append(f"{module} is imported but not declared in the '{extra}' extra")
            if module in core_modules:
                bad.append(f"{module} is optional but declared as a core dependency")
            bad += [f"{module} is optional but imported in {f}" for f in sorted(files - allowed)]
        elif module not in core_modules:
            bad.append(f"{module} is imported in {sorted(files)} but not a core dependency")
    unused = core_modules - set(imports) - {m for m, user in USED_THROUGH.items() if user in imports}
    bad += [f"{m} is a core dependency but never imported" for m in sorted(unused)]
    return bad


def _sources() -> dict[str, str]:
    return {str(path.relative_to(ROOT)): path.read_text()
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_dependencies_match_the_imports():
    project = _project()
    assert mismatches(third_party_imports(_sources()), project["dependencies"],
                      project.get("optional-dependencies", {})) == []


def test_the_check_catches_undeclared_unused_and_misplaced_dependencies():
    imports = third_party_imports({"hardware/probe.py": "import numpy\ndef f():\n    from scipy import linalg\n",
                                   "evonas/api/probe.py": "import ray\nimport os.path\nfrom . import x\n"})
    assert imports == {"numpy": {"hardware/probe.py"}, "scipy": {"hardware/probe.py"}, "ray": {"evonas/api/probe.py"}}
    found = mismatches(imports, ["numpy>=1.24", "deap>=1.4", "ray"], {"test": ["pytest"]})
    assert found == ["ray is imported but not declared in the 'ray' extra",
                     "ray is optional but declared as a core dependency",
                     "ray is optional but imported in evonas/api/probe.py",
                     "scipy is imported in ['hardware/probe.py'] but not a core dependency",
                     "deap is a core dependency but never imported"]


def test_distribution_names_map_to_import_names():
    assert [module_of(r) for r in ["scikit-learn>=1.3", "PyYAML>=6.0", "Pillow", "onnxruntime>=1.17",
                                   "torch[cuda]>=2.4", "threadpoolctl ; python_version>='3.10'"]] == \
        ["sklearn", "yaml", "PIL", "onnxruntime", "torch", "threadpoolctl"]
