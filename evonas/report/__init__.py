"""``evonas report``: a run as one self-contained HTML page, with its figures as PNG and SVG.

:func:`write_report` reads the run store (finished or still running), draws the front, its
progress and the hypervolume, and writes ``report.html`` plus ``<figure>.png`` / ``.svg``
beside it. The page loads nothing: figures are inline SVG, the CSS is inline, and its
Content-Security-Policy forbids any request.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evonas.core.errors import UserError
from evonas.report import page, plots
from evonas.report.view import RunView, load_run

REPORT_NAME = "report.html"


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote."""

    html: Path
    figures: tuple[Path, ...]
    view: RunView


def write_report(run_dir: str | Path, out_dir: str | Path | None = None,
                 bundle: str | Path | None = None) -> Report:
    """Write the report of ``run_dir`` into ``out_dir`` (default ``<run_dir>/report``).

    Args:
        run_dir: a run directory, finished or still being written.
        out_dir: where ``report.html`` and the figures go; it must be new, empty, or hold an
            earlier evonas report (which is replaced).
        bundle: an ``evonas export`` directory whose ONNX files the front table links to.

    Raises:
        UserError: no run in ``run_dir``, an unusable ``out_dir`` or ``bundle``.
    """
    out_dir = Path(run_dir) / "report" if out_dir is None else Path(out_dir)
    _check_out(out_dir)
    view = load_run(run_dir)
    links = _bundle_links(Path(bundle), out_dir) if bundle is not None else {}
    figs = plots.figures(view)
    html = page.render(view, {stem: plots.svg(fig) for stem, fig in figs.items()}, links,
                       dt.datetime.now(dt.timezone.utc))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, fig in figs.items():
        plots.save(fig, out_dir / stem)
        written += [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    _write_atomically(out_dir / REPORT_NAME, html)
    return Report(out_dir / REPORT_NAME, tuple(written), view)


def _check_out(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"report output '{out_dir}' exists and is not a directory")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    existing = out_dir / REPORT_NAME
    if not existing.is_file() or not existing.read_text(errors="replace").startswith(page.MARKER):
        raise UserError(f"report output '{out_dir}' is not empty and holds no earlier evonas report; "
                        "choose a new or empty directory")


def _bundle_links(bundle: Path, out_dir: Path) -> dict[int, str]:
    """Candidate id -> path of its ONNX file relative to the report, from the bundle's manifest."""
    manifest = bundle / "manifest.json"
    try:
        models = json.loads(manifest.read_text())["models"]
        files = {int(m["candidate_id"]): bundle / m["file"] for m in models}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"--bundle '{bundle}' is not an evonas export ({manifest}: {exc})") from None
    return {cid: os.path.relpath(path.resolve(), out_dir.resolve()) for cid, path in files.items()}


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
