"""Shared fixtures: a reference, fresh in-distribution data and a shifted set."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import clustered


@pytest.fixture
def reference() -> np.ndarray:
    return clustered(400, seed=0)


@pytest.fixture
def in_dist() -> np.ndarray:
    return clustered(200, seed=1)


@pytest.fixture
def shifted() -> np.ndarray:
    return clustered(200, shift=6.0, seed=2)
