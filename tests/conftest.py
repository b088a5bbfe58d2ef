"""Shared fixtures: where the shared data lives, and small ready-made objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(sub: str) -> Path:
    """Path to ``../shared/data/<sub>``; skips the test with a reason when absent."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"shared data not found at {path}; CI provides ../shared/data")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
