"""``dataset_distance``: one entry point to every registered distance between two sets."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from fmood._validation import check_per_sample, check_positive_int
from fmood.distances.base import PairDistance, check_pair
from fmood.distances.classifier import DomainClassifier
from fmood.distances.frechet import FrechetDistance
from fmood.distances.mmd import MMD
from fmood.distances.resampling import bootstrap_interval, noise_ratio, null_level, subsample_index
from fmood.distances.result import DistanceResult
from fmood.distances.sinkhorn import Sinkhorn
from fmood.distances.sliced_wasserstein import SlicedWasserstein
from fmood.errors import InvalidInputError
from fmood.registry import Registry

#: Every distance by name (``dataset_distance(method=...)``).
DISTANCES: Registry[type[PairDistance]] = Registry(
    "distance",
    {
        cls.name: cls
        for cls in (FrechetDistance, MMD, SlicedWasserstein, Sinkhorn, DomainClassifier)
    },
)
# Two rows per half of A.
_MIN_ROWS_FOR_NULL = 4


def list_distances(filter: str | Iterable[str] | None = None) -> list[str]:
    """Names accepted by ``dataset_distance(method=...)``, sorted; ``filter``: fnmatch pattern(s)."""
    return DISTANCES.names(filter)


def is_distance(name: str) -> bool:
    """Whether ``dataset_distance(method=name)`` knows ``name``."""
    return name in DISTANCES


def available_distances() -> list[str]:
    """Names accepted by ``dataset_distance(method=...)``, sorted (:func:`list_distances`)."""
    return list_distances()


def get_distance(method: str) -> type[PairDistance]:
    """The class registered as ``method``.

    An unknown name raises :class:`~fmood.registry.UnknownNameError` (an
    :class:`InvalidInputError`) listing close matches and every distance.
    """
    return DISTANCES.get(method)


def dataset_distance(
    A: ArrayLike,
    B: ArrayLike,
    method: str = "mmd",
    *,
    n_bootstrap: int = 200,
    n_null: int = 5,
    confidence: float = 0.95,
    max_samples: int | Literal["auto"] | None = "auto",
    random_state: int | np.random.Generator | None = 0,
    groups_a: ArrayLike | None = None,
    groups_b: ArrayLike | None = None,
    progress: bool = False,
    **method_params: Any,
) -> DistanceResult:
    """Distance between a reference set ``A`` and a target set ``B`` of embeddings.

    ===================  ========================================  ===========  ==============
    method               value                                     max_samples  p_value
    ===================  ========================================  ===========  ==============
    frechet              Fréchet distance of fitted Gaussians      10,000       None
    mmd                  unbiased MMD^2, RBF kernel, median width  2,000        permutations
    sliced_wasserstein   sliced W_2 (POT), 50 directions           10,000       None
    sinkhorn             entropic OT cost / median within-A cost   1,000        None
    classifier           cross-validated AUROC of A vs B           2,000        None
    ===================  ========================================  ===========  ==============

    The parameters of each method (``method_params``) are those of its class in
    :mod:`fmood.distances`: ``bandwidth``, ``n_permutations`` (mmd); ``n_projections``,
    ``p``, ``seed`` (sliced_wasserstein); ``reg``, ``scale``, ``max_iter``, ``tol``
    (sinkhorn); ``cv``, ``C``, ``max_iter`` (classifier).

    The ratio (value / null level) is not comparable across methods: unbiased MMD^2 has a
    null level near 0, so its ratio explodes on a real shift (tens to hundreds), while
    frechet, sliced_wasserstein and sinkhorn are biased far from 0 between two samples of
    one distribution, so their ratios stay near 1 for the same shift, and the classifier's
    null level is chance (0.5), so its ratio is at most 2. One line per method:
    :data:`fmood.distances.result.RATIO_MEANINGS`.

    The null level is the same distance between two disjoint random parts of A, the
    held-out part as large as B (at most half of A), so it is measured at the sample sizes
    of the value itself: biased estimators (frechet, sliced_wasserstein, sinkhorn) grow as a
    side shrinks, and a floor from larger parts would be too low. Its reference side has
    n_a - n_b rows rather than n_a, so when B is a large fraction of A the floor of those
    estimators is somewhat high (a conservative ratio); MMD^2 is unbiased and unaffected.

    Cost: the value, ``n_bootstrap`` replicates and ``n_null`` refits on halves of A. A
    replicate reuses what the value computed (kernel, cost matrix, projections,
    out-of-fold scores) except for frechet, which refits both Gaussians: about 0.3 s a
    replicate for 5,000 rows a side at ``d = 768`` (a minute for the default 200), so lower
    ``n_bootstrap`` for quick looks. The other methods take 2-11 s with the defaults on
    5,000 x 768 sets.
    Parameters resolved from data (MMD bandwidth, Sinkhorn scale, projection seed) are
    fixed on (A, B) and reused for the replicates and the null level, so all three
    measure the same distance.

    Parameters
    ----------
    A : array-like of shape (n_a, n_features)
        Reference set, n_a >= 2 (>= 4 for the null level).
    B : array-like of shape (n_b, n_features)
        Target set, n_b >= 2.
    method : str
        One of :func:`available_distances`.
    n_bootstrap : int >= 0
        Bootstrap replicates for the confidence interval; 0 skips it (CI None).
    n_null : int >= 0
        Random half-splits of A for the null level; 0 skips it (null level and ratio None).
    confidence : float in (0, 1)
        Coverage of the interval.
    max_samples : int, None or "auto"
        Rows kept per side, drawn at random without replacement, before anything else
        (value, interval, null level are all computed on them). "auto" is the method's
        default above; None keeps every row.
    random_state : int, Generator or None
        Source of all randomness (subsampling, resamples, splits, permutations, folds,
        projection seed): a fixed int reproduces the result exactly.
    groups_a, groups_b : array-like of shape (n_a,) / (n_b,), optional
        Patient or volume of each row. Slices of one volume are near-duplicates, so rows are
        not independent: with groups the bootstrap resamples whole groups, the null level
        moves whole groups between its two parts, and the MMD permutation test permutes
        groups. Without them a target of a few patients looks shifted against a null level
        computed from rows that share patients.
    progress : bool
        Show a progress bar over the bootstrap replicates.
    **method_params
        Passed to the method.

    Returns
    -------
    DistanceResult

    Raises
    ------
    InvalidInputError
        Unknown method or parameter, fewer than 2 rows per side (4 in A with ``n_null > 0``),
        different feature dimensions, NaN or infinite rows, invalid settings.
    """
    cls = get_distance(method)
    if "groups" in method_params:
        # DomainClassifier takes groups for direct use; here rows are subsampled, resampled
        # and split, so the groups must travel with A and B.
        raise InvalidInputError(
            "dataset_distance takes groups_a and groups_b (one per row of A and of B), not groups"
        )
    _check_method_params(cls, method_params)
    A, B = check_pair(A, B)
    n_bootstrap = _check_count(n_bootstrap, "n_bootstrap")
    n_null = _check_count(n_null, "n_null")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (float, int, np.floating))
        or not 0 < confidence < 1
    ):
        raise InvalidInputError(f"confidence must be in (0, 1), got {confidence!r}")
    cap = _resolve_max_samples(max_samples, cls)
    if n_null and min(A.shape[0], cap or A.shape[0]) < _MIN_ROWS_FOR_NULL:
        raise InvalidInputError(
            f"the null level compares two halves of A and needs at least {_MIN_ROWS_FOR_NULL} "
            f"rows in A, got {min(A.shape[0], cap or A.shape[0])}; pass n_null=0 to skip it"
        )

    # Independent streams: changing n_bootstrap does not change the null level, and so on.
    sub_rng, fit_rng, test_rng, boot_rng, null_rng = np.random.default_rng(random_state).spawn(5)
    groups_a = _check_groups(groups_a, A.shape[0], "groups_a")
    groups_b = _check_groups(groups_b, B.shape[0], "groups_b")
    keep_a = subsample_index(A.shape[0], cap, sub_rng)
    keep_b = subsample_index(B.shape[0], cap, sub_rng)
    A_used, B_used = A[keep_a], B[keep_b]
    groups_a = None if groups_a is None else groups_a[keep_a]
    groups_b = None if groups_b is None else groups_b[keep_b]
    statistic = cls(A_used, B_used, rng=fit_rng, **method_params)

    ci_low = ci_high = None
    if n_bootstrap:
        ci_low, ci_high = bootstrap_interval(
            statistic,
            A_used.shape[0],
            B_used.shape[0],
            n_bootstrap,
            confidence,
            boot_rng,
            groups_a=groups_a,
            groups_b=groups_b,
            progress=progress,
        )
    level: float | None = None
    null_values: list[float] = []
    if n_null:
        level, null_values = null_level(
            lambda X, Y, rng: cls(X, Y, rng=rng, **statistic.params).value,
            A_used,
            n_null,
            null_rng,
            held_out=B_used.shape[0],
            groups=groups_a,
        )
    pooled_groups = _pooled_groups(groups_a, groups_b, A_used.shape[0], B_used.shape[0])
    return DistanceResult(
        method=cls.name,
        value=statistic.value,
        ci_low=ci_low,
        ci_high=ci_high,
        null_level=level,
        ratio=noise_ratio(statistic.value, level),
        p_value=statistic.p_value(test_rng, pooled_groups),
        n_a=A.shape[0],
        n_b=B.shape[0],
        params={
            **statistic.params,
            "n_bootstrap": n_bootstrap,
            "n_null": n_null,
            "confidence": float(confidence),
            "max_samples": cap,
            "random_state": _seed_or_none(random_state),
        },
        extra={
            **statistic.extra,
            "n_a_used": A_used.shape[0],
            "n_b_used": B_used.shape[0],
            "null_values": null_values,
        },
    )


def _check_method_params(cls: type[PairDistance], method_params: dict[str, Any]) -> None:
    accepted = [
        name
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "rng"
    ]
    unknown = sorted(set(method_params) - set(accepted))
    if unknown:
        raise InvalidInputError(
            f"unknown parameter(s) for {cls.name!r}: {', '.join(unknown)}; "
            f"accepted: {', '.join(accepted) or 'none'}"
        )


def _check_count(value: object, name: str) -> int:
    """``value`` as an int >= 0, else raise :class:`InvalidInputError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidInputError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _seed_or_none(random_state: object) -> int | None:
    """An int seed as recorded in ``params``; a Generator or None cannot be written down."""
    return int(random_state) if isinstance(random_state, (int, np.integer)) else None


def _resolve_max_samples(max_samples: object, cls: type[PairDistance]) -> int | None:
    if isinstance(max_samples, str) and max_samples == "auto":
        return cls.default_max_samples
    if max_samples is None:
        return None
    cap = check_positive_int(max_samples, "max_samples")
    if cap < 2:
        raise InvalidInputError(f"max_samples must be at least 2 (rows per side), got {cap}")
    return cap


def _check_groups(groups: ArrayLike | None, n: int, name: str) -> np.ndarray | None:
    arr = check_per_sample(groups, n, name)
    if arr is None:
        return None
    if np.unique(arr).size < 2:
        raise InvalidInputError(f"{name} holds a single group; resampling needs at least 2")
    return arr


def _pooled_groups(
    groups_a: np.ndarray | None, groups_b: np.ndarray | None, n_a: int, n_b: int
) -> np.ndarray | None:
    """Group codes over the pooled rows (A first); A's and B's groups never merge."""
    if groups_a is None and groups_b is None:
        return None
    codes_a = np.arange(n_a) if groups_a is None else np.unique(groups_a, return_inverse=True)[1]
    codes_b = np.arange(n_b) if groups_b is None else np.unique(groups_b, return_inverse=True)[1]
    return np.concatenate([codes_a, codes_a.max() + 1 + codes_b])
