"""Combining p-values across scorers, and multiple-testing control across images."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fmood.errors import InvalidInputError

#: p-values are capped here before combining: ``tan((0.5 - p) pi)`` diverges to -inf at
#: p = 1, so one scorer finding an image utterly typical would cancel any other's evidence.
P_CAP = 0.999
#: Below this p-value ``tan((0.5 - p) pi)`` is replaced by its asymptote ``1 / (p pi)``.
_TINY = 1e-15


def cauchy_statistic(log_pvalues: ArrayLike) -> np.ndarray:
    """Cauchy combination statistic of each row, as ``asinh(T)``, from natural-log p-values.

    ``T = mean_j tan((0.5 - p_j) * pi)`` (Liu & Xie, "Cauchy Combination Test: A Powerful
    Test With Analytic p-Value Calculation Under Arbitrary Dependency Structures", JASA 2020).
    Its tail is approximately standard Cauchy whatever the dependence between the tests, and a
    single very small p-value dominates it, which suits OOD detection: one scorer that sees
    the shift is enough. p-values are capped at :data:`P_CAP`.

    ``asinh`` is monotone, so it ranks exactly like ``T``; it is computed in log space
    (``asinh(T) ~ log(2T)``) so that p-values far below the smallest double stay ordered,
    and a Cauchy tail of ``T`` becomes an exponential tail of ``asinh(T)``.

    Parameters
    ----------
    log_pvalues : array-like of shape (n_samples, n_tests)
    """
    log_p = np.asarray(log_pvalues, dtype=np.float64)
    if log_p.ndim != 2 or log_p.shape[1] == 0:
        raise InvalidInputError(
            f"log_pvalues must have shape (n_samples, n_tests), got {log_p.shape}"
        )
    if (np.isnan(log_p) | (log_p > 1e-12)).any():
        raise InvalidInputError("log p-values must be <= 0 (p-values in (0, 1])")
    log_p = np.minimum(log_p, np.log(P_CAP))
    m = log_p.shape[1]
    tiny = log_p < np.log(_TINY)
    moderate_sum = np.where(tiny, 0.0, np.tan((0.5 - np.exp(log_p)) * np.pi)).sum(axis=1)
    # Sum of the dominant terms 1 / (p pi), as a log.
    log_tiny_sum = np.logaddexp.reduce(np.where(tiny, -log_p - np.log(np.pi), -np.inf), axis=1)
    out = np.arcsinh(moderate_sum / m)
    huge = tiny.any(axis=1)
    # With a term above 1e15 the bounded moderate terms (|term| <= ~318 each) are negligible.
    out[huge] = np.log(2.0) + log_tiny_sum[huge] - np.log(m)
    return out


def cauchy_pvalue(statistic: ArrayLike) -> np.ndarray:
    """Upper tail of the standard Cauchy distribution at ``T``, precise for large ``T``."""
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
