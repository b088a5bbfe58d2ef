"""Shared fixtures: where the shared data lives, and small ready-made objects."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

# one torch (OpenMP) thread per test process and per process a test starts, unless the caller
# chose: the networks under test are tiny, and on a 2-core machine shared with other work a
# second thread makes a forward pass up to 50x slower (spinning workers wait for a busy core)
os.environ.setdefault("OMP_NUM_THREADS", "1")

# latency calibrations made by the tests (and the CLI processes they start) go to a fresh file,
# never into the user's cache
_CALIBRATION_DIR = tempfile.mkdtemp(prefix="evonas-calibration-")
atexit.register(shutil.rmtree, _CALIBRATION_DIR, True)
os.environ["EVONAS_CALIBRATION_FILE"] = str(Path(_CALIBRATION_DIR) / "calibration.json")

# ../shared/data next to the checkout, or wherever EVONAS_SHARED_DATA points
SHARED_DATA = Path(os.environ.get("EVONAS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def shared_data(sub: str) -> Path:
    """Path to ``../shared/data/<sub>``; skips the test with a reason when absent."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"shared data not found at {path}; CI provides ../shared/data (or set EVONAS_SHARED_DATA)")
    return path


def trained_batchnorm(model, seed: int):
    """``model`` with every BatchNorm's statistics and affine parameters drawn away from their
    initial (0, 1), as training leaves them, so that folding them into the convolutions is tested."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.normal_(0, 0.5, generator=generator)
            bn.running_var.uniform_(0.5, 2.0, generator=generator)
            bn.weight.uniform_(0.5, 1.5, generator=generator)
            bn.bias.normal_(0, 0.2, generator=generator)
    return model


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def local_ray():
    """A real local Ray instance shared by the Ray tests (started once: it takes seconds)."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


# -- running under pytest-xdist (-n 2 --dist loadgroup) ------------------------------------------

STRATEGY_FIXTURE = "strategy"
"""The conformance suite's parameter: its reference runs are cached per strategy in a worker."""


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which turns groups into node ids
def pytest_collection_modifyitems(config, items):
    """Keep each strategy's conformance tests on one xdist worker, so its reference runs (cached per
    process by ``evonas.testing.conformance.checks``) are made once, not once per worker; likewise
    the users of a module-scoped fixture (a search, an export, a table), unless a test names its group."""
    for item in items:
        strategy = getattr(getattr(item, "callspec", None), "params", {}).get(STRATEGY_FIXTURE)
        if strategy is not None and item.module.__name__.endswith("test_conformance"):
            item.add_marker(pytest.mark.xdist_group(f"conformance-{strategy}"))
        elif item.get_closest_marker("xdist_group") is None and _uses_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(f"module-{item.module.__name__}"))


def _uses_a_module_fixture(item) -> bool:
    """Whether ``item`` uses a fixture scoped to its module (built once per xdist worker that runs one of its users)."""
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else ()
    return any(d.scope == "module" for chain in defs for d in chain)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under pytest-xdist, a test marked ``alone`` (it reads the machine's load, or starts a cluster
    with its own timeouts) runs, setup to teardown, while no other worker runs a test: the workers
    share a reader-writer lock (the timing gate's, on a file in the run's base temp folder)."""
    worker_gate = _worker_gate(item.config)
    if worker_gate is None:
        yield
        return
    with worker_gate.timing() if item.get_closest_marker("alone") else worker_gate.computing():
        yield


_WORKER_GATE = []


def _worker_gate(config):
    """The lock the xdist workers of this run share (None when not an xdist worker)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    if not _WORKER_GATE:
        from evonas.core.gate import TimingGate

        # every worker's basetemp is <run's basetemp>/popen-gw<N>: their parent is the run's
        _WORKER_GATE.append(TimingGate(config._tmp_path_factory.getbasetemp().parent / "alone.lock"))
    return _WORKER_GATE[0]
