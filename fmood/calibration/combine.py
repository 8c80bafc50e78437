"""Combining p-values across scorers, and multiple-testing control across images."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fmood.errors import InvalidInputError


def cauchy_statistic(pvalues: ArrayLike) -> np.ndarray:
    """Cauchy combination statistic of each row of ``pvalues`` (n_samples, n_tests).

    ``T = mean_j tan((0.5 - p_j) * pi)`` (Liu & Xie, "Cauchy Combination Test", JASA 2020).
    Its tail is approximately standard Cauchy whatever the dependence between the tests, and a
    single very small p-value dominates it, which suits OOD detection: one scorer that sees the
    shift is enough. For tiny p, ``tan((0.5 - p) pi)`` is evaluated as ``1 / tan(p pi)`` to keep
    precision.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0:
        raise InvalidInputError(f"pvalues must have shape (n_samples, n_tests), got {p.shape}")
    if ((p <= 0) | (p > 1) | ~np.isfinite(p)).any():
        raise InvalidInputError("p-values must lie in (0, 1]")
    terms = np.where(p < 1e-15, 1.0 / (p * np.pi), np.tan((0.5 - p) * np.pi))
    return terms.mean(axis=1)


def cauchy_pvalue(statistic: ArrayLike) -> np.ndarray:
    """Upper tail of the standard Cauchy distribution at ``statistic``, precise for large values."""
    t = np.asarray(statistic, dtype=np.float64)
    safe = np.where(t > 0, t, 1.0)
    return np.where(t > 0, np.arctan(1.0 / safe) / np.pi, 0.5 - np.arctan(t) / np.pi)


def benjamini_hochberg(pvalues: ArrayLike, alpha: float = 0.05) -> np.ndarray:
    """Boolean mask of the p-values rejected at false-discovery rate ``alpha``.

    Benjamini & Hochberg, JRSS-B 1995: with m p-values sorted ascending, reject the k smallest
    where k is the largest index with ``p_(k) <= k * alpha / m``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise InvalidInputError(f"pvalues must be 1-D, got shape {p.shape}")
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha}")
    m = p.size
    order = np.argsort(p, kind="stable")
    passed = p[order] <= alpha * np.arange(1, m + 1) / m
    flagged = np.zeros(m, dtype=bool)
    if passed.any():
        flagged[order[: np.flatnonzero(passed)[-1] + 1]] = True
    return flagged
