"""The strategy conformance suite shipped in :mod:`evonas.testing.conformance`, collected here."""

from evonas.testing.conformance import *  # noqa: F401,F403
