"""Shared Gaussian pieces: blockwise scatter, shrunk covariance and whitening.

Two exact forms of the same second moments: the (d, d) covariance (``scatter``), and for fewer
samples than features the (n, n) Gram matrix of the centred rows (``gram``), whose eigenvectors
give the covariance's at O(n^2 d) cost instead of O(d^3). The covariance of n centred points has
rank < n, so every direction outside their span has the same (shrunk) variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from fmood._validation import check_positive_int
from fmood.errors import InvalidInputError
from fmood.scorers.base import DEFAULT_BATCH_SIZE, batched

#: Relative eigenvalue floor: directions with less variance than this times the largest are
#: treated as having this variance, so a singular covariance (n < d, duplicates) stays usable.
EIGEN_FLOOR = 1e-6
#: Values of ``solver``: "auto" takes the Gram form when n < d.
SOLVERS = ("auto", "covariance", "gram")


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
class Moments:
    """Scalar moments of the covariance that the shrinkage estimators need.

    Attributes
    ----------
    trace : float
        Trace of the covariance (divisor n).
    frobenius : float
        Sum of its squared entries.
    sum_fourth : float
        Sum over rows of ``||x_i - m_i||^4`` (the Ledoit-Wolf variance term).
    n, d : int
    """

    trace: float
    frobenius: float
    sum_fourth: float
    n: int
    d: int


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

    @property
    def moments(self) -> Moments:
        cov = self.covariance
        return Moments(
            float(np.trace(cov)), float(np.sum(cov**2)), self.sum_fourth, self.n, cov.shape[0]
        )


@dataclass(frozen=True)
class Gram:
    """The nonzero spectrum of the covariance, from the Gram matrix of the centred rows.

    Attributes
    ----------
    eigvals : ndarray of shape (r,), float64
        Nonzero covariance eigenvalues (divisor n), descending; r < n.
    basis : ndarray of shape (d, r), float64
        Their orthonormal eigenvectors.
    moments : Moments
    """

    eigvals: np.ndarray
    basis: np.ndarray
    moments: Moments


def use_gram(solver: str, n: int, d: int) -> bool:
    """Whether ``solver`` ("auto", "covariance" or "gram") means the Gram form for n x d data."""
    if solver not in SOLVERS:
        raise InvalidInputError(f"solver must be one of {SOLVERS}, got {solver!r}")
    return solver == "gram" or (solver == "auto" and n < d)


def gram_rows(batch_size: int, d: int) -> int:
    """Rows per chunk for float64 work on (rows, d) blocks: at most ``batch_size``, about 32 MiB."""
    return max(1, min(check_positive_int(batch_size, "batch_size"), 2**22 // d))


def gram(
    X: np.ndarray, means: np.ndarray, inverse: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE
) -> Gram:
    """Spectrum of the covariance of ``X`` (n, d) around ``means[inverse]``, in O(n^2 d).

    Works on blocks of columns: one (n, batch_size) float64 block at a time, plus the (n, n)
    Gram matrix and the (d, r) basis.
    """
    n, d = X.shape

    def centred(cols: slice) -> np.ndarray:
        return X[:, cols].astype(np.float64) - means[:, cols][inverse]

    G = np.zeros((n, n), dtype=np.float64)
    for cols in batched(d, batch_size):
        block = centred(cols)
        G += block @ block.T
    w, U = np.linalg.eigh(G)
    # Eigenvalues at rounding level belong to the null space; their vectors would be noise.
    keep = w > max(float(w[-1]), 0.0) * n * np.finfo(np.float64).eps * 16
    w, U = w[keep][::-1], U[:, keep][:, ::-1]
    basis = np.empty((d, w.size), dtype=np.float64)
    for cols in batched(d, batch_size):
        basis[cols] = centred(cols).T @ (U / np.sqrt(w))
    diag = np.diag(G)
    moments = Moments(
        float(diag.sum()) / n, float(np.sum(G**2)) / n**2, float(np.sum(diag**2)), n, d
    )
    return Gram(w / n, basis, moments)


def scatter(
    X: np.ndarray, means: np.ndarray, inverse: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE
) -> Scatter:
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


def shrinkage_weight(s: Moments, shrinkage: str | float) -> float:
    """Weight of the scaled identity in the shrunk covariance.

    ``"ledoit-wolf"`` and ``"oas"`` follow scikit-learn's ``ledoit_wolf_shrinkage`` and
    ``oas`` (assume_centered=True) exactly, computed from the moments of the scatter or of the
    Gram matrix instead of a second pass over the data.
    """
    n, d, frob = s.n, s.d, s.frobenius
    mu = s.trace / d
    if shrinkage == "ledoit-wolf":
        beta = (s.sum_fourth / n - frob) / (d * n)
        delta = (frob - 2.0 * mu * s.trace + d * mu**2) / d
        beta = min(beta, delta)
        return 0.0 if beta == 0 else beta / delta
    if shrinkage == "oas":
        alpha = frob / d**2
        den = (n + 1) * (alpha - mu**2 / d)
        return 1.0 if den == 0 else min((alpha + mu**2) / den, 1.0)
    if (
        isinstance(shrinkage, (int, float))
        and not isinstance(shrinkage, bool)
        and 0.0 <= shrinkage <= 1.0
    ):
        return float(shrinkage)
    raise InvalidInputError(
        f"shrinkage must be 'ledoit-wolf', 'oas', a float in [0, 1] or None, got {shrinkage!r}"
    )


def shrunk_covariance(s: Scatter, shrinkage: str | float | None) -> np.ndarray:
    """Covariance (float64, (d, d)) with optional shrinkage toward ``trace/d * I``."""
    cov = s.covariance.copy()
    if shrinkage is None:
        return cov
    alpha = shrinkage_weight(s.moments, shrinkage)
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
    eigvals = _floored(eigvals, float(eigvals[-1]))
    return (eigvecs / np.sqrt(eigvals)).astype(np.float32)


def low_rank_whitener(g: Gram, shrinkage: str | float | None) -> tuple[np.ndarray, float]:
    """Inverse square roots of the shrunk, floored covariance's eigenvalues, for ``g.basis``.

    The covariance ``whitener`` would build from the same data has these eigenvalues on the
    span of ``g.basis`` and one shared eigenvalue on its complement.

    Returns
    -------
    basis_scale : ndarray of shape (r,), float64
    complement_scale : float
        ``x^T cov^-1 x = ||(x B) * basis_scale||^2 + complement_scale^2 ||x - x B B^T||^2``.
    """
    alpha = 0.0 if shrinkage is None else shrinkage_weight(g.moments, shrinkage)
    mu = g.moments.trace / g.moments.d
    eigvals = np.append((1.0 - alpha) * g.eigvals + alpha * mu, alpha * mu)
    eigvals = _floored(eigvals, float(eigvals.max()))
    return 1.0 / np.sqrt(eigvals[:-1]), float(1.0 / np.sqrt(eigvals[-1]))


def _floored(eigvals: np.ndarray, top: float) -> np.ndarray:
    """``eigvals`` raised to ``EIGEN_FLOOR * top``; refuses a covariance with no variance."""
    if not top > 0:
        raise InvalidInputError(
            "the reference has zero variance (all vectors identical); a Gaussian cannot be fitted"
        )
    return np.maximum(eigvals, EIGEN_FLOOR * top)
