"""The installed evonas version, read from the package metadata.

``pyproject.toml``'s ``version`` is the one source: the CLI's ``--version``, ``evonas.__version__``
and the run store's version records all read it from here.
"""

from __future__ import annotations

from importlib import metadata

UNKNOWN = "0+unknown"
"""The version reported when evonas runs from a source tree that was never installed."""


def evonas_version() -> str:
    """The installed distribution's version (``importlib.metadata``), or :data:`UNKNOWN`."""
    try:
        return metadata.version("evonas")
    except metadata.PackageNotFoundError:
        return UNKNOWN
