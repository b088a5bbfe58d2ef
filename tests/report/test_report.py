"""``evonas report``: the HTML page of a real run, rendered in headless Chromium, and its edges.

Every strategy's report is covered by the conformance suite (``test_report_of_a_run``); here a
real MobileNet run is rendered in a real browser, and the report is checked while a run is
still going, for a table-backed problem, with an export bundle, and on bad input.
"""

from __future__ import annotations

import io
from html import unescape
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import shared_data
from evonas.api.study import Study
from evonas.cli import main
from evonas.report import browser, write_report
from evonas.testing.synthetic import SyntheticProblem
from populations.aging import AgingEvolution

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--strategy", "aging", "--evaluations", "6", "--epochs", "0.2", "--population", "3", "--sample-size", "2", "--no-progress",
        "--repeats-min", "10", "--min-seconds", "0", "--compensate", "false"]
"""Latency: 10 plain timed runs, no 1 s floor (the report is under test; tests/hardware/test_drift.py checks
compensation)."""


def _evonas(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evonas", *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=900)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """A real MobileNet search (training, ONNX Runtime latency) on the embedded digits, run in this process
    (the report's own command runs as a user runs it, in a process)."""
    run_dir = tmp_path_factory.mktemp("report") / "run"
    assert main(["search", "--target", "onnx-cpu", "--out", str(run_dir), *TINY]) == 0
    return run_dir


def _front_ids(run_dir: Path) -> list[int]:
    done = _evonas("front", str(run_dir), "--format", "json")
    assert done.returncode == 0, done.stderr
    return [m["id"] for m in json.loads(done.stdout)]


@pytest.mark.slow
@pytest.mark.xdist_group("real_run")  # the module's real search, made once per xdist worker that uses it
@pytest.mark.skipif(browser.unavailable() is not None, reason=f"no headless browser: {browser.unavailable()}")
def test_report_of_a_real_run_renders_in_headless_chromium(real_run, tmp_path):
    done = _evonas("report", str(real_run), "--out", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    html = tmp_path / "report" / "report.html"
    url = html.resolve().as_uri()
    requests, problems = [], []
    with browser.open_page(1280, 900) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(url, wait_until="load")
        page.wait_for_load_state("networkidle")
        shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
        (tmp_path / "screenshot.png").write_bytes(page.screenshot(full_page=True))
        box = page.locator("#front-plot svg").bounding_box()
        rows = page.locator("#front-table tbody tr").count()
        row_ids = [int(i) for i in page.locator("#front-table tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.id)")]
        hv_box = page.locator("#hypervolume-plot svg").bounding_box()
    # no request leaves the page: the only one is the page itself
    assert requests == [url], requests
    assert not problems, problems
    # the plot area is drawn: many non-white pixels, in several colours (points, front, colour bar)
    for b in (box, hv_box):
        assert b is not None and b["width"] > 300 and b["height"] > 150
        region = shot.crop((int(b["x"]), int(b["y"]), int(b["x"] + b["width"]), int(b["y"] + b["height"])))
        pixels = np.asarray(region, dtype=int).reshape(-1, 3)
        drawn = float((pixels.sum(axis=1) < 720).mean())
        assert 0.02 < drawn < 0.9, f"plot region drawn fraction {drawn:.3f}"
        assert len(np.unique(np.asarray(region.quantize(64)))) >= 8
    # one row per front member, in the front's order
    front = _front_ids(real_run)
    assert rows == len(front) and row_ids == front


@pytest.mark.slow
@pytest.mark.xdist_group("real_run")
def test_report_files_are_self_contained(real_run, tmp_path):
    report = write_report(real_run, tmp_path / "r")
    html = report.html.read_text()
    assert html.startswith("<!-- evonas run report -->")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html), "the page references the network"
    assert not re.search(r"<script|<link|@import|url\((?!#)", html)  # url(#clip) is an in-page reference
    assert {p.name for p in report.figures} == {"front.png", "front.svg", "hypervolume.png", "hypervolume.svg"}
    for path in report.figures:
        if path.suffix == ".svg":
            root = ET.parse(path).getroot()
            assert root.tag.endswith("svg")
            assert not re.search(r"href=\"(https?:|//)", path.read_text())
        else:
            with Image.open(path) as image:
                assert image.width > 600 and image.height > 300
    # every objective with its unit, the genome of every member, config and fingerprint
    assert "latency_ms (ms)" in html and "accuracy" in html
    for row in report.view.front:
        assert row.genome in html
    assert '"target": "onnx-cpu"' in unescape(html) and 'id="fingerprint"' in html and "onnxruntime" in html


def test_report_while_the_run_is_still_going(tmp_path):
    """A report written between asks and tells shows what is stored and says what is running."""
    study = Study(SyntheticProblem(2), AgingEvolution(population=4, sample_size=2), seed=1, out=tmp_path / "run")
    study.optimize(evaluations=8)
    pending = [study.ask(), study.ask()]
    study.tell(pending[0], study.problem.evaluate(pending[0].proposal))
    report = write_report(tmp_path / "run")  # the study still holds the run's writer lock
    html = report.html.read_text()
    assert len(report.view.told) == 9 and [r.id for r in report.view.running] == [pending[1].id]
    assert 'id="in-progress"' in html and f"#{pending[1].id}" in html
    assert 'id="versions"' in html and "created by evonas" in html  # the version that wrote the run
    study.tell(pending[1], study.problem.evaluate(pending[1].proposal))
    again = write_report(tmp_path / "run")  # an earlier report in the same place is replaced
    assert not again.view.running and "in-progress" not in again.html.read_text()
    study.close()


def test_report_shows_held_out_scores_beside_the_front(tmp_path):
    study = Study(SyntheticProblem(2), AgingEvolution(population=4, sample_size=2), seed=1, out=tmp_path / "run")
    for _ in range(6):
        pending = study.ask()
        evaluation = study.problem.evaluate(pending.proposal)
        study.tell(pending, evaluation, scores={"test_accuracy": 0.5 + 0.01 * pending.id})
    study.close()
    report = write_report(tmp_path / "run")
    html = report.html.read_text()
    assert report.view.score_names == ["test_accuracy"]
    assert "test_accuracy (held out)" in html and "never seen by the search" in html
    for member in report.view.front:
        row = re.search(rf'<tr data-id="{member.id}">(.*?)</tr>', html).group(1)
        assert f"{0.5 + 0.01 * member.id:.4g}" in row


def test_report_of_a_benchmark_run(tmp_path, capsys):
    """In-process through :func:`evonas.cli.main` (the exit codes of a real process: the bad-input test)."""
    table = shared_data("nb201") / "nb201_table.csv"
    assert main(["search", "--space", "nb201", "--table", str(table), "--evaluations", "40",
                 "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert main(["report", str(tmp_path / "run")]) == 0
    html = (tmp_path / "run" / "report" / "report.html").read_text()
    capsys.readouterr()
    assert main(["front", str(tmp_path / "run"), "--format", "json"]) == 0
    front = [m["id"] for m in json.loads(capsys.readouterr().out)]
    assert len(re.findall(r"<tr data-id=", html)) == len(front)
    assert "table-backed problem" in html


def test_report_links_exported_onnx_files(tmp_path):
    """The front table links each member to its ONNX file in a bundle given with --bundle."""
    study = Study(SyntheticProblem(2), AgingEvolution(population=4, sample_size=2), seed=0, out=tmp_path / "run")
    front = study.optimize(evaluations=10).front
    study.close()
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    files = {t.id: f"candidate_{t.id}/model.onnx" for t in front}
    (bundle / "manifest.json").write_text(json.dumps({"models": [{"candidate_id": i, "file": f}
                                                                 for i, f in files.items()]}))
    html = write_report(tmp_path / "run", tmp_path / "out", bundle=bundle).html.read_text()
    for i, f in files.items():
        assert f'href="../bundle/{f}"' in html


def test_report_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    """The first case in a real process (its exit code), the others in-process through :func:`evonas.cli.main`."""
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    done = _evonas("report", str(not_a_run))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "not a run directory" in done.stderr

    study = Study(SyntheticProblem(2), AgingEvolution(population=4, sample_size=2), seed=0, out=tmp_path / "run")
    study.optimize(evaluations=6)
    study.close()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["report", str(tmp_path / "run"), "--out", str(busy)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"] and (busy / "notes.txt").read_text() == "mine"

    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "r2"), "--bundle", str(busy)]) == 2
    assert "not an evonas export" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()
