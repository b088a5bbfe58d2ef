"""The suite's own set-up: under pytest-xdist ``--dist loadgroup`` a test's ``xdist_group`` takes effect.

pytest-xdist groups tests by renaming their node ids (``<id>@<group>``); when a pytest release
stores ids elsewhere the renaming is silently lost, every group is ignored, and a module-scoped
fixture (a real search, an export, a latency table) is built once per worker instead of once.
"""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("suite-self-check")
def test_an_xdist_group_reaches_the_node_id(request):
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not an xdist worker under --dist loadgroup (e.g. -n 0)")
    assert request.node.nodeid.endswith("@suite-self-check"), request.node.nodeid


def test_users_of_a_module_fixture_share_a_group(request, module_value):
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not an xdist worker under --dist loadgroup (e.g. -n 0)")
    assert request.node.nodeid.endswith(f"@module-{__name__}"), request.node.nodeid


@pytest.fixture(scope="module")
def module_value() -> int:
    return 1
