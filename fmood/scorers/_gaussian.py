"""Shared Gaussian pieces: shrunk covariance and whitening, used by the Mahalanobis family."""
from __future__ import annotations

import numpy as np
from sklearn.covariance import ledoit_wolf_shrinkage, oas

from fmood.errors import InvalidInputError

#: Relative eigenvalue floor: directions with less variance than this times the largest are
#: treated as having this variance, so a singular covariance (n < d, duplicates) stays usable.
EIGEN_FLOOR = 1e-6


def shrunk_covariance(centered: np.ndarray, shrinkage: str | float | None) -> np.ndarray:
    """Covariance (float64, shape (d, d)) of already-centred rows, with optional shrinkage.

    ``shrinkage`` is ``"ledoit-wolf"``, ``"oas"``, a float in [0, 1] (weight of the scaled
    identity) or None (empirical covariance, divisor n).
    """
    n = centered.shape[0]
    cov = centered.T.astype(np.float64) @ centered.astype(np.float64) / n
    if shrinkage is None:
        return cov
    if shrinkage == "ledoit-wolf":
        alpha = float(ledoit_wolf_shrinkage(centered, assume_centered=True))
    elif shrinkage == "oas":
        alpha = float(oas(centered, assume_centered=True)[1])
    elif isinstance(shrinkage, (int, float)) and 0.0 <= shrinkage <= 1.0:
        alpha = float(shrinkage)
    else:
        raise InvalidInputError(
            f"shrinkage must be 'ledoit-wolf', 'oas', a float in [0, 1] or None, got {shrinkage!r}"
        )
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
