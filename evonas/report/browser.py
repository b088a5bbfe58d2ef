"""Opening a report in a real headless Chromium (the system's, driven by Playwright).

Used by ``evonas report --screenshot`` and by the browser tests. Needs the ``playwright``
Python package (``pip install 'evonas[test]'``) and a Chromium binary: Debian's ``chromium``
package at ``/usr/bin/chromium``, or ``$EVONAS_CHROMIUM``. Playwright's own browser download
is never used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from pathlib import Path
from typing import Iterator

from evonas.core.errors import UserError

CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
)
"""Flags that keep Chromium from phoning home (update checks, sync), which would count as
requests leaving the page and fail on machines without a network."""


def chromium_path() -> str | None:
    """The Chromium binary to use, or ``None`` if there is none."""
    explicit = os.environ.get("EVONAS_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def unavailable() -> str | None:
    """Why a browser cannot be started here, or ``None`` if it can."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install 'evonas[test]')"
    if chromium_path() is None:
        return "no Chromium binary (install Debian's 'chromium' package or set EVONAS_CHROMIUM)"
    return None


@contextlib.contextmanager
def open_page(width: int = 1280, height: int = 900) -> Iterator[object]:
    """A fresh Playwright page in headless Chromium, closed on exit.

    Raises:
        UserError: no Playwright or no Chromium here.
    """
    reason = unavailable()
    if reason:
        raise UserError(f"cannot open a browser: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def screenshot(html: Path, png: Path, width: int = 1280, height: int | None = None) -> None:
    """A screenshot of ``html`` into ``png``: the whole page, or its top ``height`` pixels."""
    with open_page(width, height or 900) as page:
        page.goto(Path(html).resolve().as_uri())
        page.screenshot(path=str(png), full_page=height is None)
