"""Pairwise squared distances and the median heuristic shared by the kernel and OT distances."""

from __future__ import annotations

import numpy as np
from sklearn.metrics.pairwise import euclidean_distances


def squared_distances(X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``X`` and ``Y`` (``Y=X`` when omitted).

    Wraps scikit-learn, which accumulates float32 input in float64 blocks (the
    ``|x|^2 + |y|^2 - 2 x.y`` expansion loses near pairs in float32), clips rounding
    negatives to 0 and zeroes the diagonal of a self-distance matrix.

    Parameters
    ----------
    X : ndarray of shape (n_x, n_features)
    Y : ndarray of shape (n_y, n_features), optional

    Returns
    -------
    ndarray of shape (n_x, n_y), float32 for float32 input
    """
    return euclidean_distances(X, X if Y is None else Y, squared=True)


def median_offdiagonal(D2: np.ndarray) -> float:
    """Median of a square distance matrix over its distinct pairs (i != j), never 0.

    Each pair appears twice off the diagonal, which leaves the median unchanged, so this
    equals the median over the pairs i < j. When more than half of the pairs coincide
    (duplicated vectors) the median is 0, which would make a kernel or a cost scale
    degenerate; the mean of the non-zero entries is used then, and 1.0 when every entry is
    0 (all vectors identical: any scale gives the same distances).

    Parameters
    ----------
    D2 : ndarray of shape (n, n), n >= 2

    Returns
    -------
    float > 0
    """
    off = D2[~np.eye(D2.shape[0], dtype=bool)]
    median = float(np.median(off))
    if median > 0:
        return median
    nonzero = off[off > 0]
    return float(nonzero.mean(dtype=np.float64)) if nonzero.size else 1.0
