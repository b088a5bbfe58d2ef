"""The strategy conformance suite shipped in :mod:`evonas.testing.conformance`, collected here."""

import pytest

from evonas.testing import conformance
from evonas.testing.conformance import *  # noqa: F401,F403

# 40 random genomes per morphism (about 2 s each, 15 morphisms): the full suite runs it; -m "not slow"
# runs check_morphism on 10 genomes per morphism instead (tests/morphisms/test_morphisms.py)
test_morphism_conforms = pytest.mark.slow(conformance.test_morphism_conforms)
