"""Testing aids shipped with evonas: a synthetic problem, per-plug-in checks and the conformance suite.

- :mod:`evonas.testing.synthetic` holds :class:`~evonas.testing.synthetic.SyntheticProblem`, a
  small deterministic problem (4,096 genomes, no data files, no torch) with optional fault
  injection.
- :func:`check_strategy`, :func:`check_target`, :func:`check_objective`, :func:`check_morphism`
  and :func:`check_space` run the conformance checks on one plug-in, for its author (modelled
  on scikit-learn's ``check_estimator``): plain functions, no pytest needed, that raise an
  :class:`AssertionError` whose message starts with the failed check's name::

      from evonas import check_strategy   # also evonas.testing.check_strategy
      check_strategy(MyStrategy)          # a few seconds for a table strategy

- :mod:`evonas.testing.conformance` holds the pytest suite that runs those same checks on every
  registered plug-in (built-in or from an entry point); a project collects it with::

      from evonas.testing.conformance import *  # noqa: F401,F403
"""

from __future__ import annotations

from typing import Any

_LAZY = {"check_strategy": "evonas.testing.checks", "StrategyChecks": "evonas.testing.checks",
         "check_target": "evonas.testing.plugin_checks", "check_objective": "evonas.testing.plugin_checks",
         "check_morphism": "evonas.testing.plugin_checks", "check_space": "evonas.testing.plugin_checks"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """The checks, imported on first use (``import evonas.testing`` stays cheap)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'evonas.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
