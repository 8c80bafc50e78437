"""Validation of the 1-D arrays that every metric takes."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fmood.errors import InvalidInputError


def check_scores(x: ArrayLike, name: str, *, min_samples: int = 1) -> np.ndarray:
    """Return ``x`` as a float64 array of shape (n_samples,), finite, with enough samples.

    Raises :class:`InvalidInputError` for a non-numeric dtype, more than one axis, too few
    samples, or NaN / infinite values (naming how many and the first position).
    """
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidInputError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise InvalidInputError(
            f"{name} must be 1-D (n_samples,), got shape {arr.shape}; flatten it with np.ravel"
        )
    if arr.shape[0] < min_samples:
        raise InvalidInputError(
            f"{name} needs at least {min_samples} sample(s), got {arr.shape[0]}"
        )
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InvalidInputError(
            f"{name} has {bad.size} NaN or infinite value(s), the first at index {bad[0]}; "
            "a metric over them is undefined, so drop those samples first"
        )
    return arr


def check_binary(x: ArrayLike, name: str) -> np.ndarray:
    """Return a 0/1 (or boolean) array ``x`` of shape (n_samples,) as float64.

    Raises :class:`InvalidInputError` if a value is neither 0 nor 1.
    """
    arr = check_scores(x, name)
    if not np.isin(arr, (0.0, 1.0)).all():
        found = np.unique(arr[~np.isin(arr, (0.0, 1.0))])[:5]
        raise InvalidInputError(
            f"{name} must hold only 0/1 or False/True (1 = the prediction was wrong), "
            f"found {found.tolist()}"
        )
    return arr


def check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise :class:`InvalidInputError` unless ``a`` and ``b`` have one entry per sample each."""
    if a.shape[0] != b.shape[0]:
        raise InvalidInputError(
            f"{name_a} and {name_b} must have one entry per sample, "
            f"got lengths {a.shape[0]} and {b.shape[0]}"
        )
