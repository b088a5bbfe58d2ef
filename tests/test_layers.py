"""The layering in ARCHITECTURE.md, enforced: no module imports a layer above its own.

Imports are read from the source with :mod:`ast` (including imports inside functions, which
are still dependencies), so the check needs no import side effects.
"""

from __future__ import annotations

import ast
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import its own package and anything in a lower layer; packages
# that share a layer are siblings and must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("evonas.core",),
    ("evonas.mobilenet", "evonas.benchmarks"),
    ("hardware", "morphisms"),
    ("populations",),
    ("evonas.engine",),
    ("evonas.report",),
    ("evonas.api",),
    ("evonas.testing",),
    ("evonas",),  # the package root: re-exports the public API
    ("evonas.cli",),
    ("evonas.__main__",),
]
PACKAGES = ("evonas", "hardware", "morphisms", "populations")


def _unit(module: str) -> tuple[int, str]:
    """(layer index, package) of a dotted module name: the longest matching prefix wins."""
    best = None
    for level, units in enumerate(LAYERS):
        for unit in units:
            if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best[1])):
                best = (level, unit)
    assert best is not None, f"module {module} belongs to no layer in LAYERS"
    return best


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def _imports(source: str, module: str, is_pkg: bool = False) -> set[str]:
    tree = ast.parse(source, module)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_pkg else 0)]
                found.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def _known(name: str) -> bool:
    parts = name.split(".")
    return (ROOT.joinpath(*parts).with_suffix(".py").is_file() or (ROOT.joinpath(*parts) / "__init__.py").is_file())


def violations(extra: dict[str, str] | None = None) -> list[str]:
    """Every upward or sideways import; ``extra`` adds modules (name -> source) to check."""
    sources = {module: (path.read_text(), path.name == "__init__.py") for module, path in _modules()}
    sources.update({module: (text, False) for module, text in (extra or {}).items()})
    bad = []
    for module, (source, is_pkg) in sources.items():
        level, unit = _unit(module)
        for imported in _imports(source, module, is_pkg):
            if not _known(imported):
                continue  # 'from pkg import name' also yields pkg.name, which may be an attribute
            other_level, other_unit = _unit(imported)
            if other_level > level or (other_level == level and other_unit != unit):
                bad.append(f"{module} (layer {level}, {unit}) imports {imported} (layer {other_level}, {other_unit})")
    return bad


def test_no_module_imports_a_higher_layer():
    assert violations() == []


def test_every_module_has_a_layer():
    for module, _ in _modules():
        _unit(module)


def test_the_check_catches_upward_and_sideways_imports():
    """The checker itself: a core module importing the engine, hardware importing morphisms."""
    found = violations({"evonas.core._probe": "from evonas.engine.driver import Search\n",
                        "hardware._probe": "def f():\n    import morphisms.base\n"})
    assert any(v.startswith("evonas.core._probe") and "evonas.engine" in v for v in found)
    assert any(v.startswith("hardware._probe") and "morphisms.base" in v for v in found)
