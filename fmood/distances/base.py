"""The contract every dataset-level distance follows, and the validation of a pair of sets."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from fmood._validation import check_embeddings
from fmood.errors import InvalidInputError


class PairDistance(ABC):
    """A distance fitted to one pair of sets, able to recompute itself on resampled rows.

    The constructor ``cls(A, B, *, rng, **params)`` does the expensive work once (a kernel
    matrix, a cost matrix, projections, out-of-fold classifier scores) so that bootstrap
    replicates only index into it. Inputs are already validated float32 arrays.

    Attributes
    ----------
    value : float
        The distance between ``A`` and ``B``.
    params : dict
        Parameters after resolution (a median bandwidth, a drawn seed, a cost scale).
        ``cls(X, Y, rng=rng, **params)`` measures another pair with the *same* distance,
        which is how the null level stays comparable with ``value``.
    extra : dict
        Method-specific by-products (JSON-serialisable).
    """

    name: ClassVar[str]
    reference: ClassVar[str]
    default_max_samples: ClassVar[int | None]
    bounds: ClassVar[tuple[float, float]] = (0.0, math.inf)

    value: float
    params: dict[str, Any]
    extra: dict[str, Any]

    @abstractmethod
    def __init__(
        self, A: np.ndarray, B: np.ndarray, *, rng: np.random.Generator, **params: Any
    ) -> None:
        """Fit to ``A`` (n_a, n_features) and ``B`` (n_b, n_features): set value, params, extra."""

    @abstractmethod
    def resample(self, idx_a: np.ndarray, idx_b: np.ndarray) -> float:
        """The distance between ``A[idx_a]`` and ``B[idx_b]`` (indices may repeat).

        Parameters
        ----------
        idx_a : ndarray of int, shape (n_a,)
        idx_b : ndarray of int, shape (n_b,)
        """

    def p_value(self, rng: np.random.Generator, groups: np.ndarray | None = None) -> float | None:
        """p-value of a test of "A and B come from one distribution"; None without a test.

        ``groups`` (shape (n_a + n_b,), A's rows first) names rows that must move together.
        """
        return None


def check_pair(A: ArrayLike, B: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate a reference set and a target set of embeddings from one space.

    Parameters
    ----------
    A : array-like of shape (n_a, n_features), n_a >= 2
    B : array-like of shape (n_b, n_features), n_b >= 2

    Returns
    -------
    A, B : float32 C-contiguous ndarrays (no copy when already so)

    Raises
    ------
    InvalidInputError
        Fewer than 2 rows, non-finite rows, or different feature dimensions.
    """
    # Two rows per side is the least that gives a spread (covariance, U-statistic).
    A = check_embeddings(A, "A", min_samples=2)
    B = check_embeddings(B, "B", min_samples=2)
    if A.shape[1] != B.shape[1]:
        raise InvalidInputError(
            f"A has {A.shape[1]} features but B has {B.shape[1]}; both sets must be embedded "
            "by the same backbone"
        )
    return A, B


def check_positive_float(value: object, name: str) -> float:
    """Return ``value`` as a finite float > 0, else raise :class:`InvalidInputError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a positive number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
