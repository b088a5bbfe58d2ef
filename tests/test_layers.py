"""The layering in ARCHITECTURE.md, enforced: no module imports a layer above its own, and no
modules import each other in a loop.

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
    ("evonas.mobilenet", "evonas.problems"),
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


def _edges(source: str, module: str, is_pkg: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` imports: ``from pkg import name`` counts as pkg.name
    where that is a module, else as pkg (a package's ``__init__`` run only on the way to a
    submodule is not an edge, or every re-exporting ``__init__`` would close a loop)."""
    found = set()
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module.split(".") if node.module else []
            if node.level:
                parts = module.split(".")
                base = parts[: len(parts) - node.level + (1 if is_pkg else 0)] + base
            for alias in node.names:
                sub = ".".join(base + [alias.name])
                found.add(sub if sub in known else ".".join(base))
    return {m for m in found if m in known and m != module}


def cycles(extra: dict[str, str] | None = None) -> list[list[str]]:
    """One import loop (``[a, b, ..., a]``) per group of modules that import each other.

    ``extra`` adds or replaces modules (name -> source). The groups are the strongly connected
    components of the import graph (Tarjan's algorithm); each is reported as one loop through it.
    """
    sources = {module: (path.read_text(), path.name == "__init__.py") for module, path in _modules()}
    sources.update({module: (text, False) for module, text in (extra or {}).items()})
    known = set(sources)
    graph = {module: sorted(_edges(text, module, is_pkg, known)) for module, (text, is_pkg) in sources.items()}
    return [_loop_through(group, graph) for group in _components(graph) if len(group) > 1]


def _components(graph: dict[str, list[str]]) -> list[set[str]]:
    """The strongly connected components of ``graph`` (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:  # node is the root of a component: pop it off the stack
            group = set()
            while node not in group:
                group.add(stack.pop())
            groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _loop_through(group: set[str], graph: dict[str, list[str]]) -> list[str]:
    """A shortest loop from the group's first module back to itself, staying inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in graph[node]:
                if nxt == start:
                    return paths[node] + [start]
                if nxt in group and nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"no loop through {sorted(group)}")


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


def test_no_import_cycles():
    loops = cycles()
    assert loops == [], "import loops: " + "; ".join(" -> ".join(loop) for loop in loops)


def test_the_check_catches_import_cycles_also_through_function_level_imports():
    found = cycles({"hardware._probe_a": "import hardware._probe_b\n",
                    "hardware._probe_b": "def f():\n    from hardware import _probe_a\n"})
    assert ["hardware._probe_a", "hardware._probe_b", "hardware._probe_a"] in found
