"""Fixtures of clustered float32 points, for the store and utils (FAISS index) tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def clustered(rng: np.random.Generator) -> Callable[[int, int, int], np.ndarray]:
    """Make (n, d) float32 points around ``centers`` Gaussian centres, as embeddings cluster."""

    def make(n: int, d: int, centers: int = 20) -> np.ndarray:
        means = rng.normal(size=(centers, d)) * 4
        labels = rng.integers(0, centers, size=n)
        return (means[labels] + rng.normal(size=(n, d))).astype(np.float32)

    return make
