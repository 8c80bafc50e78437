"""Shared Gaussian pieces: blockwise scatter, shrunk covariance and whitening."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from fmood.errors import InvalidInputError
from fmood.scorers.base import DEFAULT_BATCH_SIZE, batched

#: Relative eigenvalue floor: directions with less variance than this times the largest are
#: treated as having this variance, so a singular covariance (n < d, duplicates) stays usable.
EIGEN_FLOOR = 1e-6


def class_means(X: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Class means (n_classes, d) float64 and each row's class index (n,).

    One class when ``y`` is None. Sums go through a sparse (n_classes, n) indicator
    product: one pass over X, no per-class copies, so 1,000 classes cost one small array.
    """
    if y is None:
        return X.mean(axis=0, dtype=np.float64)[None, :], np.zeros(X.shape[0], dtype=np.int64)
    classes, inverse = np.unique(y, return_inverse=True)
    if classes.size == X.shape[0]:
        raise InvalidInputError(
            "every sample has its own label; class-conditional Mahalanobis needs several "
            "samples per class (pass y=None for the label-free score)"
        )
    indicator = sparse.csr_matrix(
        (np.ones(X.shape[0]), (inverse, np.arange(X.shape[0]))), shape=(classes.size, X.shape[0])
    )
    counts = np.bincount(inverse, minlength=classes.size)
    return np.asarray(indicator @ X, dtype=np.float64) / counts[:, None], inverse


@dataclass(frozen=True)
class Scatter:
    """Second moments of centred rows: what covariance and shrinkage estimates need.

    Attributes
    ----------
    covariance : ndarray of shape (d, d), float64
        Empirical covariance, divisor n.
    sum_fourth : float
        Sum over rows of ``||x_i - m_i||^4`` (the Ledoit-Wolf variance term).
    n : int
    """

    covariance: np.ndarray
    sum_fourth: float
    n: int


def scatter(X: np.ndarray, means: np.ndarray, inverse: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> Scatter:
    """Scatter of ``X`` (n, d) around ``means[inverse]``, accumulated block by block in float64.

    Only one (batch_size, d) float64 block exists at a time, never a centred copy of X.
    """
    d = X.shape[1]
    cov = np.zeros((d, d), dtype=np.float64)
    fourth = 0.0
    for rows in batched(X.shape[0], batch_size):
        block = X[rows].astype(np.float64) - means[inverse[rows]]
        cov += block.T @ block
        fourth += float(np.sum(np.einsum("ij,ij->i", block, block) ** 2))
    return Scatter(cov / X.shape[0], fourth, X.shape[0])


def shrinkage_weight(s: Scatter, shrinkage: str | float) -> float:
    """Weight of the scaled identity in the shrunk covariance.

    ``"ledoit-wolf"`` and ``"oas"`` follow scikit-learn's ``ledoit_wolf_shrinkage`` and
    ``oas`` (assume_centered=True) exactly, computed from the blockwise scatter instead of a
    second pass over the data.
    """
    cov, n = s.covariance, s.n
    d = cov.shape[0]
    mu = np.trace(cov) / d
    if shrinkage == "ledoit-wolf":
        frob = float(np.sum(cov**2))
        beta = (s.sum_fourth / n - frob) / (d * n)
        delta = (frob - 2.0 * mu * np.trace(cov) + d * mu**2) / d
        beta = min(beta, delta)
        return 0.0 if beta == 0 else beta / delta
    if shrinkage == "oas":
        alpha = float(np.mean(cov**2))
        den = (n + 1) * (alpha - mu**2 / d)
        return 1.0 if den == 0 else min((alpha + mu**2) / den, 1.0)
    if isinstance(shrinkage, (int, float)) and not isinstance(shrinkage, bool) and 0.0 <= shrinkage <= 1.0:
        return float(shrinkage)
    raise InvalidInputError(
        f"shrinkage must be 'ledoit-wolf', 'oas', a float in [0, 1] or None, got {shrinkage!r}"
    )


def shrunk_covariance(s: Scatter, shrinkage: str | float | None) -> np.ndarray:
    """Covariance (float64, (d, d)) with optional shrinkage toward ``trace/d * I``."""
    cov = s.covariance.copy()
    if shrinkage is None:
        return cov
    alpha = shrinkage_weight(s, shrinkage)
    mu = np.trace(cov) / cov.shape[0]
    cov *= 1.0 - alpha
    cov.flat[:: cov.shape[0] + 1] += alpha * mu
    return cov


def whitener(cov: np.ndarray) -> np.ndarray:
    """Matrix W (float32, shape (d, d)) with ``||x W||^2 = x^T cov^-1 x``.

    Eigenvalues below ``EIGEN_FLOOR`` times the largest are floored there, which is a
    pseudo-inverse with a ridge rather than an error for singular covariances.
    """
    eigvals, eigvecs = np.linalg.eigh(cov)
    top = float(eigvals[-1])
    if not top > 0:
        raise InvalidInputError(
            "the reference has zero variance (all vectors identical); a Gaussian cannot be fitted"
        )
    eigvals = np.maximum(eigvals, EIGEN_FLOOR * top)
    return (eigvecs / np.sqrt(eigvals)).astype(np.float32)
