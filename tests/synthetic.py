"""Synthetic embeddings for tests: anisotropic Gaussian clusters, like frozen features."""

from __future__ import annotations

import numpy as np


def clustered(
    n: int, d: int = 16, n_clusters: int = 3, shift: float = 0.0, seed: int = 0
) -> np.ndarray:
    """``n`` float32 samples of a fixed mixture; ``shift`` moves every sample along one axis."""
    centers = np.random.default_rng(1234).standard_normal((n_clusters, d)) * 3.0
    scales = np.linspace(0.3, 1.5, d)
    rng = np.random.default_rng(seed)
    X = centers[rng.integers(n_clusters, size=n)] + rng.standard_normal((n, d)) * scales
    X[:, 0] += shift
    return X.astype(np.float32)
