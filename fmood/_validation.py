"""Input validation shared by every public entry point."""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import ArrayLike

from fmood.errors import InvalidInputError, NotFittedError

_MAX_LISTED_ROWS = 10
#: dtype kinds of real numbers (bool, signed and unsigned integers, floats): the dtypes whose
#: float32 cast loses nothing but rounding.
REAL_KINDS = "biuf"


def check_embeddings(
    X: ArrayLike,
    name: str = "X",
    *,
    dim: int | None = None,
    min_samples: int = 1,
) -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 array of shape (n_samples, n_features).

    Accepted dtypes are the real ones: bool, integers and floats (rounded to float32).
    Raises :class:`InvalidInputError` for any other dtype (complex: the cast would drop
    the imaginary part; objects, strings, dates), a wrong number of axes, too few rows,
    a wrong feature dimension, or non-finite values (naming the offending rows).
    """
    arr = np.asarray(X)
    check_real(arr.dtype, name)
    if arr.ndim != 2:
        raise InvalidInputError(
            f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}; "
            "reshape a single vector with x.reshape(1, -1)"
        )
    n, d = arr.shape
    if n < min_samples:
        raise InvalidInputError(f"{name} needs at least {min_samples} sample(s), got {n}")
    if d == 0:
        raise InvalidInputError(f"{name} has 0 features")
    if dim is not None and d != dim:
        raise InvalidInputError(f"{name} has {d} features, expected {dim}")
    with np.errstate(over="ignore"):  # overflow becomes inf, reported just below
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    bad_rows = nonfinite_rows(arr)
    if bad_rows.size:
        listed = ", ".join(str(i) for i in bad_rows[:_MAX_LISTED_ROWS])
        more = (
            f" and {bad_rows.size - _MAX_LISTED_ROWS} more"
            if bad_rows.size > _MAX_LISTED_ROWS
            else ""
        )
        raise InvalidInputError(
            f"{name} has NaN or infinite values in {bad_rows.size} row(s): {listed}{more}; "
            "drop them or use fmood.drop_nonfinite(X)"
        )
    return arr


def check_real(dtype: np.dtype, name: str) -> None:
    """Refuse a dtype whose cast to float32 would lose more than rounding: all but real numbers."""
    if dtype.kind == "c":
        raise InvalidInputError(
            f"{name} is complex ({dtype}); fmood does not cast it to real, which would drop the "
            "imaginary part: pass np.real(X), np.abs(X) or both parts as features"
        )
    if dtype.kind not in REAL_KINDS:
        raise InvalidInputError(
            f"{name} must be numeric (bool, integers or floats), got dtype {dtype}"
        )


def nonfinite_rows(X: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``X`` that hold a NaN or an infinity (also float32 overflow)."""
    return np.flatnonzero(~np.isfinite(X).all(axis=1))


def drop_nonfinite(X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Split off non-finite rows: return (finite rows as float32, indices of dropped rows)."""
    arr = np.asarray(X)
    check_real(arr.dtype, "X")
    arr = arr.astype(np.float32, copy=False)
    if arr.ndim != 2:
        raise InvalidInputError(f"X must be 2-D (n_samples, n_features), got shape {arr.shape}")
    bad = nonfinite_rows(arr)
    keep = np.ones(arr.shape[0], dtype=bool)
    keep[bad] = False
    return np.ascontiguousarray(arr[keep]), bad


@overload
def check_per_sample(values: None, n_samples: int, name: str) -> None: ...
@overload
def check_per_sample(values: ArrayLike, n_samples: int, name: str) -> np.ndarray: ...
@overload
def check_per_sample(values: ArrayLike | None, n_samples: int, name: str) -> np.ndarray | None: ...
def check_per_sample(values: ArrayLike | None, n_samples: int, name: str) -> np.ndarray | None:
    """``values`` as an array of shape (n_samples,) (labels, groups, domains), None passed on."""
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.shape != (n_samples,):
        raise InvalidInputError(
            f"{name} must have one entry per sample ({n_samples}), got shape {arr.shape}"
        )
    return arr


def check_is_fitted(estimator: object, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has the fitted ``attribute``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"{type(estimator).__name__} is not fitted yet; call fit(X) before this method"
        )


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an int >= 1, else raise :class:`InvalidInputError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
