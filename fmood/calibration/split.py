"""Group-aware splits of a reference set: fitting and calibration parts, or K folds."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, KFold, ShuffleSplit

from fmood._validation import check_per_sample
from fmood.errors import InvalidInputError

#: Fewest calibration samples accepted: with fewer, the smallest p-value is above 0.1.
MIN_CALIBRATION = 10


def calibration_split(
    n_samples: int,
    *,
    groups: ArrayLike | None = None,
    calibration_fraction: float = 0.3,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the fitting part and of the held-out calibration part.

    With ``groups`` (patient, volume or site of each sample), all samples of a group land on the
    same side, so near-duplicates (adjacent slices of one volume) never make calibration easy.

    Returns
    -------
    fit_idx, cal_idx : ndarray of int64, sorted
    """
    if not 0.0 < calibration_fraction < 1.0:
        raise InvalidInputError(
            f"calibration_fraction must be in (0, 1), got {calibration_fraction}"
        )
    if groups is None:
        splitter = ShuffleSplit(1, test_size=calibration_fraction, random_state=random_state)
        fit_idx, cal_idx = next(splitter.split(np.zeros(n_samples)))
    else:
        groups, _ = _several_groups(groups, n_samples, "split exists")
        splitter = GroupShuffleSplit(1, test_size=calibration_fraction, random_state=random_state)
        fit_idx, cal_idx = next(splitter.split(np.zeros(n_samples), groups=groups))
    if cal_idx.size < MIN_CALIBRATION or fit_idx.size < 2:
        raise InvalidInputError(
            f"the reference is too small to hold out a calibration part: {n_samples} samples "
            f"gave {fit_idx.size} to fit and {cal_idx.size} to calibrate (need >= 2 and "
            f">= {MIN_CALIBRATION}); add reference data or raise calibration_fraction"
        )
    return np.sort(fit_idx).astype(np.int64), np.sort(cal_idx).astype(np.int64)


def calibration_folds(
    n_samples: int,
    *,
    groups: ArrayLike | None = None,
    n_folds: int = 5,
    random_state: int = 0,
) -> np.ndarray:
    """Fold of each sample for cross-conformal calibration, shape (n_samples,), in [0, K).

    With ``groups`` every sample of a group lands in one fold (folds balanced by sample
    count, groups shuffled); ``K = min(n_folds, number of groups)``, so two groups give two
    folds. Without groups, ``K = min(n_folds, n_samples // 2)``.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise InvalidInputError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    if n_samples < MIN_CALIBRATION:
        raise InvalidInputError(
            f"the reference is too small to calibrate: {n_samples} samples (need >= "
            f"{MIN_CALIBRATION}); add reference data"
        )
    X = np.zeros(n_samples)
    if groups is None:
        splitter = KFold(min(int(n_folds), n_samples // 2), shuffle=True, random_state=random_state)
        parts = splitter.split(X)
    else:
        groups, n_groups = _several_groups(groups, n_samples, "folds exist")
        splitter = GroupKFold(min(int(n_folds), n_groups), shuffle=True, random_state=random_state)
        parts = splitter.split(X, groups=groups)
    folds = np.empty(n_samples, dtype=np.int64)
    for k, (_, held_out) in enumerate(parts):
        folds[held_out] = k
    return folds


def _several_groups(groups: ArrayLike, n_samples: int, what: str) -> tuple[np.ndarray, int]:
    """``groups`` checked per sample, and its number of groups (at least two)."""
    groups = check_per_sample(groups, n_samples, "groups")
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise InvalidInputError(
            f"groups holds a single group, so no group-aware calibration {what}; "
            "pass groups=None or give patient/volume ids"
        )
    return groups, n_groups
