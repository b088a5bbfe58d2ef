"""Testing aids shipped with evonas: a synthetic problem and the strategy conformance suite.

:mod:`evonas.testing.synthetic` holds :class:`~evonas.testing.synthetic.SyntheticProblem`, a
small deterministic problem (4,096 genomes, no data files, no torch) with optional fault
injection. :mod:`evonas.testing.conformance` holds pytest tests run against every strategy
registered in :data:`evonas.api.registry.STRATEGIES`; a project collects them with::

    from evonas.testing.conformance import *  # noqa: F401,F403
"""
