"""Every Python snippet in README.md runs as written (in a scratch directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_snippets():
    assert len(SNIPPETS) >= 2


# a snippet that builds an ImageClassification problem trains networks
@pytest.mark.parametrize("index", [pytest.param(i, marks=[pytest.mark.slow] if "ImageClassification" in snippet else [])
                                   for i, snippet in enumerate(SNIPPETS)])
def test_readme_snippet_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(SNIPPETS[index], f"README.md snippet {index}", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert out.strip(), "every snippet prints its result"
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "run.db").is_file()  # everything recorded in the run store
