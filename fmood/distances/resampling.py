"""Resampling around a distance: subsampling, bootstrap interval, null level, ratio."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from fmood.distances.base import PairDistance


def subsample_index(n: int, max_rows: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``max_rows`` of ``n`` rows, drawn without replacement."""
    if max_rows is None or n <= max_rows:
        return np.arange(n)
    return np.sort(rng.choice(n, max_rows, replace=False))


def group_members(groups: np.ndarray | None, n: int) -> list[np.ndarray]:
    """Row indices of each group; every row its own group when ``groups`` is None."""
    if groups is None:
        return [np.array([i]) for i in range(n)]
    codes = np.unique(groups, return_inverse=True)[1]
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)


def cluster_resample(
    members: list[np.ndarray] | None, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap indices: rows with replacement, or whole groups with replacement.

    Resampling groups (patients, volumes) rather than rows keeps the within-group
    correlation of adjacent slices in every replicate, so the interval is not too narrow.
    """
    if members is None:
        return rng.integers(0, n, n)
    chosen = rng.integers(0, len(members), len(members))
    return np.concatenate([members[g] for g in chosen])


def bootstrap_interval(
    statistic: PairDistance,
    n_a: int,
    n_b: int,
    n_bootstrap: int,
    confidence: float,
    rng: np.random.Generator,
    *,
    groups_a: np.ndarray | None = None,
    groups_b: np.ndarray | None = None,
    progress: bool = False,
) -> tuple[float, float]:
    """Bootstrap confidence interval of ``statistic.value``.

    A and B are each resampled with replacement to their own sizes, ``n_bootstrap`` times,
    and the distance recomputed (``statistic.resample``). The interval is the percentile
    interval of the replicates, recentred on the estimate:
    ``[value - (median - q_low), value + (q_high - median)]``, clipped to the method's
    range. Why recentred: a resample repeats rows, which shrinks its effective size and
    raises biased distances (Fréchet, Wasserstein, entropic OT) by about their finite-sample
    bias; the raw percentile interval then sits above the value, and can miss it entirely
    when the sets are alike. The replicates' spread is kept, their offset dropped. When the
    replicates are centred on the value the two intervals coincide.

    Parameters
    ----------
    statistic : PairDistance
        Fitted on A of shape (n_a, d) and B of shape (n_b, d).
    n_a, n_b : int
    n_bootstrap : int >= 1
    confidence : float in (0, 1)
    rng : Generator
    groups_a, groups_b : ndarray of shape (n_a,) / (n_b,), optional
        Group of each row (patient, volume): groups are resampled whole.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    (ci_low, ci_high) : tuple of float
    """
    members_a = None if groups_a is None else group_members(groups_a, n_a)
    members_b = None if groups_b is None else group_members(groups_b, n_b)
    replicates = np.empty(n_bootstrap)
    for k in tqdm(range(n_bootstrap), desc=f"{statistic.name} bootstrap", disable=not progress):
        replicates[k] = statistic.resample(
            cluster_resample(members_a, n_a, rng), cluster_resample(members_b, n_b, rng)
        )
    alpha = (1.0 - confidence) / 2.0
    q_low, median, q_high = np.quantile(replicates, [alpha, 0.5, 1.0 - alpha])
    low_bound, high_bound = statistic.bounds
    ci_low = max(statistic.value - (median - q_low), low_bound)
    ci_high = min(statistic.value + (q_high - median), high_bound)
    return float(ci_low), float(ci_high)


def null_level(
    measure: Callable[[np.ndarray, np.ndarray, np.random.Generator], float],
    A: np.ndarray,
    n_splits: int,
    rng: np.random.Generator,
    *,
    held_out: int | None = None,
    groups: np.ndarray | None = None,
) -> tuple[float, list[float]]:
    """Mean absolute distance between two random disjoint parts of ``A``.

    Without ``held_out`` the parts are two halves: a random permutation's first ``n // 2``
    rows against the next ``n // 2`` (one row left out when ``n`` is odd). With ``held_out``
    (the size of the target) a part of that many rows, at most half of ``A``, is measured
    against the rest: the same sample sizes as the distance it is a floor for, which matters
    for biased estimators (Fréchet, Wasserstein, entropic OT), whose bias grows as a side
    shrinks. With ``groups`` whole groups are moved: adjacent slices of one volume never sit
    on both sides, or the floor would be far too low.

    Absolute values make the floor of a signed, unbiased estimator (MMD^2) the size of its
    scatter rather than its mean, ~0; they change nothing for the others.

    Parameters
    ----------
    measure : callable (X, Y, rng) -> float
        The distance, with every parameter already fixed to those of the value it is a floor
        for.
    A : ndarray of shape (n, d), n >= 4 (two rows per part)
    n_splits : int >= 1
    rng : Generator
    held_out : int, optional
        Rows in the held-out part (default and maximum: n // 2).
    groups : ndarray of shape (n,), optional
        Group of each row; needs at least 2 groups.

    Returns
    -------
    (level, values) : the mean of ``|d(part_1, part_2)|`` and the per-split distances
    """
    n = A.shape[0]
    half = n // 2
    target = half if held_out is None else max(2, min(held_out, half))
    members = None if groups is None else group_members(groups, n)
    values = []
    for _ in range(n_splits):
        if members is None:
            order = rng.permutation(n)
            rest = order[half : 2 * half] if held_out is None else order[target:]
            held = order[:target]
        else:
            held, rest = _split_groups(members, target, rng)
        values.append(float(measure(A[rest], A[held], rng)))
    return float(np.mean(np.abs(values))), values


def _split_groups(
    members: list[np.ndarray], target: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Whole groups, in random order, into a part of about ``target`` rows and the rest."""
    order = rng.permutation(len(members))
    sizes = np.cumsum([members[g].size for g in order])
    # Smallest prefix of groups reaching the target, leaving at least one group behind.
    k = min(int(np.searchsorted(sizes, target)) + 1, len(members) - 1)
    held = np.concatenate([members[g] for g in order[:k]])
    rest = np.concatenate([members[g] for g in order[k:]])
    return held, rest


def noise_ratio(value: float, level: float | None) -> float | None:
    """``value / level``; ``inf`` (value > 0) or ``nan`` (otherwise) when the level is 0.

    Parameters
    ----------
    value : float
    level : float >= 0 or None
        None gives None.
    """
    if level is None:
        return None
    if level > 0:
        return value / level
    return math.inf if value > 0 else math.nan
