"""The documentation site: every public name documented, the generated reference complete, every
code block of the tutorials run, every link of the README resolving, and the site built strictly.

``mkdocs build --strict`` hides a public name without a docstring (``show_if_no_docstring:
false``) rather than failing, so the docstring check is here.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import evonas

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
OURS = ("evonas", "hardware", "populations", "morphisms")
TUTORIALS = [DOCS / "getting-started.md", *sorted((DOCS / "how-to").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", flags=re.S)
INCLUDE = re.compile(r'^--8<-- "([^"]+)"$')


def hooks():
    """docs/hooks/reference.py, the mkdocs hook that generates the CLI and API pages."""
    spec = importlib.util.spec_from_file_location("docs_reference_hook", DOCS / "hooks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def own_doc(obj) -> str:
    """The object's own docstring; a dataclass's generated signature or an inherited one does not count."""
    if not inspect.isclass(obj):
        return (obj.__doc__ or "").strip()
    doc = (obj.__dict__.get("__doc__") or "").strip()
    generated = dataclasses.is_dataclass(obj) and doc.startswith(obj.__name__ + "(")
    return "" if generated else doc


def undocumented(name: str, obj) -> list[str]:
    """``name`` and its public methods and properties (also those inherited from evonas classes) that
    have no docstring; an override may take its base's (``inspect.getdoc``)."""
    missing = [] if own_doc(obj) else [name]
    if not inspect.isclass(obj):
        return missing
    for klass in obj.__mro__:
        if (klass.__module__ or "").split(".")[0] not in OURS:
            continue
        for attr, member in vars(klass).items():
            if attr.startswith("_") or not (inspect.isfunction(getattr(member, "__func__", member))
                                            or isinstance(member, property)):
                continue
            if not (inspect.getdoc(getattr(obj, attr)) or "").strip():
                missing.append(f"{name}.{attr} (defined in {klass.__module__}.{klass.__qualname__})")
    return missing


def test_every_public_name_and_its_methods_have_a_docstring():
    missing = sorted({m for name in evonas.__all__ for m in undocumented(name, getattr(evonas, name))})
    assert missing == [], f"public names without a docstring (the API page would hide them): {missing}"


def test_the_docstring_check_catches_a_missing_one():
    @dataclasses.dataclass
    class Bare:
        x: int = 0

        def run(self):
            return self.x

    Bare.__module__ = "evonas.fake"
    assert undocumented("Bare", Bare) == ["Bare", "Bare.run (defined in evonas.fake.test_the_docstring_check_"
                                          "catches_a_missing_one.<locals>.Bare)"]


def test_the_api_page_documents_every_public_name():
    page = hooks().api_reference()
    assert "<!-- generated: api -->" in (DOCS / "api.md").read_text()
    for name in evonas.__all__:
        assert f'heading: "evonas.{name}"' in page, name
    assert "::: evonas.api.study.Study\n" in page and "::: evonas.api.spec.export_run\n" in page  # defining modules


def test_the_cli_page_has_every_subcommand_and_flag():
    from evonas.api.spec import SEARCH_COMMAND
    from evonas.cli import build_parser

    module = hooks()
    page = module.cli_reference()
    assert "<!-- generated: cli -->" in (DOCS / "cli.md").read_text()
    subcommands = module._subcommands(build_parser([]))
    assert {"search", "front", "history", "export", "report", "benchmark", "profile"} <= set(subcommands)
    for name in subcommands:
        assert f"## `evonas {name}`" in page, name
    for flag in SEARCH_COMMAND:
        assert flag.flag in page, flag.flag
    assert "#### `--strategy lemonade`" in page and "`--n-pc`" in page  # a plug-in's declared options


def blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text())


def test_tutorial_code_is_tested():
    """Each python block of the tutorials either runs below or includes an example file that
    tests/test_examples.py or tests/hardware/test_hardware.py runs."""
    tested = (ROOT / "tests" / "test_examples.py").read_text() + (ROOT / "tests" / "hardware" /
                                                                   "test_hardware.py").read_text()
    included = 0
    for path in TUTORIALS:
        for block in blocks(path):
            lines = block.strip().splitlines()
            paths = [m.group(1) for m in map(INCLUDE.match, lines) if m]
            assert not paths or len(paths) == len(lines), f"{path.name}: an include block holds only includes"
            for name in paths:
                assert (ROOT / name).is_file() and name.startswith("examples/") and Path(name).name in tested, name
                included += 1
    assert included >= 4


RUNNABLE = [(path, i, block) for path in TUTORIALS for i, block in enumerate(blocks(path))
            if not INCLUDE.match(block.strip().splitlines()[0])]


def test_the_tutorials_have_runnable_blocks():
    assert {path.name for path, _, _ in RUNNABLE} >= {"getting-started.md"}


@pytest.mark.parametrize("path,index,block", [
    pytest.param(path, i, block, id=f"{path.stem}-{i}",
                 marks=[pytest.mark.slow] if "ImageClassification" in block else [])
    for path, i, block in RUNNABLE])
def test_tutorial_block_runs(path, index, block, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"{path.name} block {index}", "exec"), {"__name__": "__docs__"})
    assert capsys.readouterr().out.strip(), "every block prints its result"


def relative_links(text: str) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text)
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_every_relative_link_of_the_readme_exists():
    links = relative_links((ROOT / "README.md").read_text())
    assert "docs/report.png" in links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []


def test_the_link_check_sees_a_missing_file():
    assert relative_links("[a](docs/nope.md#x) [b](https://x.org) [c](#top) ![d](docs/report.png)") == \
        ["docs/nope.md", "docs/report.png"]


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    site = tmp_path / "site"
    assert "evonas search" in (site / "cli" / "index.html").read_text()
    api = (site / "api" / "index.html").read_text()
    assert 'id="evonas.api.study.Study"' in api and "optimize" in api
    assert "Benchmarks" in (site / "benchmarks" / "index.html").read_text()
    assert not any("fonts.googleapis" in p.read_text() for p in site.rglob("*.html"))  # builds and reads offline
