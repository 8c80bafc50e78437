"""Every method of the benchmark scored on the same embeddings: fmood's and pytorch-ood's.

Methods are named ``fmood:<scorer>`` (each raw scorer fitted on the whole reference),
``fmood:detector`` (the default :class:`OODDetector`: cross-fitted calibration, patients kept
whole; its evidence is the surprise -log10 p_combined), ``fmood:detector-<variant>`` (the
detector with other settings: :data:`DETECTOR_VARIANTS`, and per-layer blocks when the
embedding has several) and ``pytorch-ood:<method>`` (:mod:`fmood_bench.evaluation.baselines`,
fitted on the whole reference; the class-conditional ones and those reading a linear probe's
logits use the in-distribution labels). Higher = more OOD for every method.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from fmood.calibration.detector import OODDetector
from fmood.errors import InvalidInputError
from fmood.scorers import block_scorers, get_scorer

_T = TypeVar("_T")

#: fmood's raw scorers, each with its registry defaults.
FMOOD_SCORERS = (
    "knn",
    "mahalanobis",
    "relative_mahalanobis",
    "gmm",
    "residual",
    "residual_mahalanobis",
    "ot",
)
#: pytorch-ood 0.4.0 methods, on the features or through a linear probe.
BASELINES = ("knn", "mahalanobis", "gmm", "msp", "energy", "maxlogit", "vim")
DETECTOR = "fmood:detector"
#: The detector with other settings than its defaults, by method name.
DETECTOR_VARIANTS: dict[str, dict[str, Any]] = {
    "fmood:detector-split": {"calibration": "split"},
    "fmood:detector-split-refit": {"calibration": "split", "refit": True},
    "fmood:detector-cv+": {"calibration": "cv+"},
    "fmood:detector-refit": {"refit": True},
    "fmood:detector++": {
        "scorers": (("mahalanobis", {"normalize": True}), ("residual", {"normalize": True}))
    },
}
#: The detector on per-layer blocks (Mahalanobis per block), for embeddings of several blocks.
DETECTOR_BLOCKS = "fmood:detector-blocks"


def detector_params(name: str, blocks: Sequence[tuple[str, int]] | None = None) -> dict[str, Any]:
    """The :class:`OODDetector` parameters of benchmark method ``name`` (beyond the defaults)."""
    if name == DETECTOR:
        return {}
    if name == DETECTOR_BLOCKS:
        if not blocks or len(blocks) < 2:
            raise InvalidInputError(f"{name} needs an embedding of several layer blocks")
        return {"scorers": block_scorers(blocks, ["mahalanobis"])}
    return dict(DETECTOR_VARIANTS[name])


@dataclass(frozen=True)
class MethodScores:
    """Scores of every method on the evaluated images.

    Attributes
    ----------
    scores : dict of str to ndarray of shape (n_eval,)
        Per method, higher = more OOD.
    assessment : DataFrame
        The default detector's :meth:`OODDetector.assess` of the evaluated images (p-values,
        degree, surprise, flags at ``alpha``).
    predictions : ndarray of shape (n_eval,)
        The linear probe's predicted class per evaluated image.
    seconds : dict of str to float
        Fit + score time per method.
    warnings : dict of str to list of str
        What a method warned about while fitting or scoring (e.g. too few samples).
    """

    scores: dict[str, np.ndarray]
    assessment: pd.DataFrame = field(repr=False)
    predictions: np.ndarray = field(repr=False)
    seconds: dict[str, float]
    warnings: dict[str, list[str]]


def score_methods(
    X_reference: ArrayLike,
    y_reference: ArrayLike,
    X_eval: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    alpha: float = 0.05,
    fmood_scorers: Sequence[str] = FMOOD_SCORERS,
    baselines: Sequence[str] = BASELINES,
    blocks: Sequence[tuple[str, int]] | None = None,
    random_state: int = 0,
) -> MethodScores:
    """Fit every method on the reference and score the evaluated images.

    Parameters
    ----------
    X_reference : array-like of shape (n_reference, n_features)
    y_reference : array-like of shape (n_reference,)
        In-distribution class labels, for the probe and class-conditional baselines.
    X_eval : array-like of shape (n_eval, n_features)
    groups : array-like of shape (n_reference,), optional
        Patient of each reference image: the detector's calibration split keeps them whole.
    blocks : sequence of (name, dim), optional
        The embedding's layer blocks (``backbone.blocks``); with several, the per-block
        detector is scored too.
    """
    from fmood.metrics.probe import LinearProbe
    from fmood_bench.evaluation.baselines import make_baseline

    X_reference = np.asarray(X_reference, dtype=np.float32)
    X_eval = np.asarray(X_eval, dtype=np.float32)
    y_reference = np.asarray(y_reference)
    scores: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    caught: dict[str, list[str]] = {}

    def timed(name: str, run: Callable[..., _T]) -> _T:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as found:
            warnings.simplefilter("always")
            out = run()
        seconds[name] = time.perf_counter() - start
        messages = sorted({str(w.message) for w in found})
        if messages:
            caught[name] = messages
        return out

    detector = OODDetector(random_state=random_state)
    assessment = timed(
        DETECTOR, lambda: detector.fit(X_reference, groups=groups).assess(X_eval, alpha=alpha)
    )
    scores[DETECTOR] = assessment["surprise"].to_numpy(dtype=float)
    variants = list(DETECTOR_VARIANTS) + ([DETECTOR_BLOCKS] if blocks and len(blocks) > 1 else [])
    for name in variants:
        variant = OODDetector(random_state=random_state, **detector_params(name, blocks))
        scores[name] = timed(
            name,
            lambda variant=variant: (
                variant.fit(X_reference, groups=groups)
                .assess(X_eval)["surprise"]
                .to_numpy(dtype=float)
            ),
        )
    for name in fmood_scorers:
        scores[f"fmood:{name}"] = timed(
            f"fmood:{name}",
            lambda name=name: get_scorer(name).fit(X_reference).score_samples(X_eval),
        )
    for name in baselines:
        scores[f"pytorch-ood:{name}"] = timed(
            f"pytorch-ood:{name}",
            lambda name=name: (
                make_baseline(name).fit(X_reference, y_reference).score_samples(X_eval)
            ),
        )
    probe = LinearProbe(random_state=random_state).fit(X_reference, y_reference)
    return MethodScores(
        scores={k: np.asarray(v, dtype=float) for k, v in scores.items()},
        assessment=assessment,
        predictions=probe.predict(X_eval),
        seconds=seconds,
        warnings=caught,
    )


def held_out_pvalues(
    X: ArrayLike,
    groups: ArrayLike,
    *,
    n_test_groups: int,
    repeats: int = 20,
    random_state: int = 0,
    **params: Any,
) -> list[np.ndarray]:
    """Combined p-values of in-distribution images whose patients the detector never saw.

    Each repeat draws ``n_test_groups`` patients as the test set, fits the detector (default
    settings, or ``params`` such as ``calibration="split"``) on the others (its own
    calibration keeps patients whole too) and returns the
    p-values of the test patients' images: if the degree is calibrated, a share ``alpha`` of
    them falls at or below ``alpha``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        In-distribution embeddings of several patients.
    groups : array-like of shape (n_samples,)
        Patient of each row.
    """
    X = np.asarray(X, dtype=np.float32)
    groups = np.asarray(groups).astype(str)
    patients = np.unique(groups)
    if not 0 < n_test_groups < len(patients) - 1:
        raise InvalidInputError(
            f"n_test_groups must leave at least 2 of the {len(patients)} patients for the "
            f"reference, got {n_test_groups}"
        )
    rng = np.random.default_rng(random_state)
    out = []
    for repeat in range(repeats):
        test = np.isin(groups, rng.choice(patients, n_test_groups, replace=False))
        detector = OODDetector(random_state=random_state + repeat, **params)
        detector.fit(X[~test], groups=groups[~test])
        out.append(detector.pvalues(X[test])["p_combined"].to_numpy(dtype=float))
    return out
