"""OOD-detection metrics from the scores of an in-distribution and an OOD test set.

Every score follows the fmood convention: higher = more OOD. The two FPR@95%TPR functions
differ in which class is "positive"; papers use both, so each name says which one it is.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    auc,
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from fmood.errors import InvalidInputError
from fmood.metrics._checks import check_scores

AuprMethod = Literal["average_precision", "trapezoid"]

_TPR = 0.95


def _pooled(scores_id: ArrayLike, scores_ood: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate both sets and pool them: (is_ood of shape (n,), scores of shape (n,))."""
    s_id = check_scores(scores_id, "scores_id")
    s_ood = check_scores(scores_ood, "scores_ood")
    is_ood = np.r_[np.zeros(s_id.shape[0]), np.ones(s_ood.shape[0])]
    return is_ood, np.r_[s_id, s_ood]


def _fpr_at_tpr(positive: np.ndarray, score: np.ndarray, tpr: float) -> float:
    """FPR at the first ROC point whose TPR reaches ``tpr`` (higher ``score`` = positive).

    ``drop_intermediate=False`` keeps every distinct threshold: sklearn's default drops
    collinear points, and where tied positive/negative pairs make the segment through the 95%
    point collinear, the next kept point has a higher FPR.
    """
    fpr, tpr_curve, _ = roc_curve(positive, score, drop_intermediate=False)
    return float(fpr[np.argmax(tpr_curve >= tpr)])


def auroc(scores_id: ArrayLike, scores_ood: ArrayLike) -> float:
    """Area under the ROC curve with OOD as the positive class.

    Parameters
    ----------
    scores_id : array-like of shape (n_id,)
        Scores of in-distribution test samples, higher = more OOD.
    scores_ood : array-like of shape (n_ood,)
        Scores of OOD test samples.

    Returns
    -------
    float
        P(score of a random OOD sample > score of a random ID sample), ties counting half, as
        ``sklearn.metrics.roc_auc_score``. 0.5 is chance, 1 is perfect separation.
    """
    is_ood, scores = _pooled(scores_id, scores_ood)
    return float(roc_auc_score(is_ood, scores))


def fpr_at_95_tpr_id(scores_id: ArrayLike, scores_ood: ArrayLike) -> float:
    """Fraction of OOD samples accepted as ID when 95% of ID samples are accepted.

    ID is the positive class, the convention of Liang et al. (ODIN, ICLR 2018), Liu et al.
    (Energy, NeurIPS 2020) and most OOD papers ("FPR at 95% TPR" where TPR counts kept ID samples).
    A sample is accepted as ID when its score is <= the threshold.

    Parameters
    ----------
    scores_id : array-like of shape (n_id,)
        Scores of in-distribution test samples, higher = more OOD.
    scores_ood : array-like of shape (n_ood,)
        Scores of OOD test samples.

    Returns
    -------
    float
        In [0, 1]; lower is better.

    Notes
    -----
    No interpolation: the threshold is the conservative one, the first point of
    ``sklearn.metrics.roc_curve`` (ID positive, negated scores, all thresholds kept) whose TPR
    is >= 0.95, i.e. the smallest ID score that keeps at least 95% of ID samples. OOD samples
    tied with it count as accepted. This is how OpenOOD picks its threshold
    (``np.argmax(tpr >= 0.95)``), applied with ID as the positive class.
    """
    is_ood, scores = _pooled(scores_id, scores_ood)
    return _fpr_at_tpr(1.0 - is_ood, -scores, _TPR)


def fpr_at_95_tpr_ood(scores_id: ArrayLike, scores_ood: ArrayLike) -> float:
    """Fraction of ID samples flagged as OOD when 95% of OOD samples are detected.

    OOD is the positive class, the convention of OpenOOD v1.5 (``auc_and_fpr_recall`` in
    ``openood/evaluators/metrics.py``: "we treat OOD as positive") and of pytorch-ood's
    ``FPR95TPR``. A sample is flagged as OOD when its score is >= the threshold.

    Parameters
    ----------
    scores_id : array-like of shape (n_id,)
        Scores of in-distribution test samples, higher = more OOD.
    scores_ood : array-like of shape (n_ood,)
        Scores of OOD test samples.

    Returns
    -------
    float
        In [0, 1]; lower is better.

    Notes
    -----
    No interpolation: the threshold is the conservative one, the first point of
    ``sklearn.metrics.roc_curve`` (OOD positive, all thresholds kept) whose TPR is >= 0.95, as
    OpenOOD does, i.e. the largest OOD score that still flags at least 95% of OOD samples. ID
    samples tied with it count as flagged.
    """
    is_ood, scores = _pooled(scores_id, scores_ood)
    return _fpr_at_tpr(is_ood, scores, _TPR)


def _aupr(positive: np.ndarray, score: np.ndarray, method: AuprMethod) -> float:
    if method == "average_precision":
        return float(average_precision_score(positive, score))
    if method == "trapezoid":
        precision, recall, _ = precision_recall_curve(positive, score)
        return float(auc(recall, precision))
    raise InvalidInputError(f"method must be 'average_precision' or 'trapezoid', got {method!r}")


def aupr_in(
    scores_id: ArrayLike, scores_ood: ArrayLike, *, method: AuprMethod = "average_precision"
) -> float:
    """Area under the precision-recall curve with ID as the positive class (AUPR-IN).

    The scores are negated, so a lower score means more likely ID.

    Parameters
    ----------
    scores_id : array-like of shape (n_id,)
        Scores of in-distribution test samples, higher = more OOD.
    scores_ood : array-like of shape (n_ood,)
        Scores of OOD test samples.
    method : {"average_precision", "trapezoid"}
        ``"average_precision"``: ``sklearn.metrics.average_precision_score``, the step-wise sum
        that does not interpolate between PR points. ``"trapezoid"``:
        ``sklearn.metrics.auc(recall, precision)`` on ``precision_recall_curve``, what OpenOOD
        v1.5 and pytorch-ood report. Linear interpolation in PR space is not a valid
        precision estimate (Davis & Goadrich, ICML 2006) and moves the value by about 1e-2 on
        50 samples, 1e-3 on 1,000, so use it only to compare with numbers from those tools.

    Returns
    -------
    float
        In [0, 1]; chance level is n_id / (n_id + n_ood).
    """
    is_ood, scores = _pooled(scores_id, scores_ood)
    return _aupr(1.0 - is_ood, -scores, method)


def aupr_out(
    scores_id: ArrayLike, scores_ood: ArrayLike, *, method: AuprMethod = "average_precision"
) -> float:
    """Area under the precision-recall curve with OOD as the positive class (AUPR-OUT).

    Parameters
    ----------
    scores_id : array-like of shape (n_id,)
        Scores of in-distribution test samples, higher = more OOD.
    scores_ood : array-like of shape (n_ood,)
        Scores of OOD test samples.
    method : {"average_precision", "trapezoid"}
        As in :func:`aupr_in`.

    Returns
    -------
    float
        In [0, 1]; chance level is n_ood / (n_id + n_ood).
    """
    is_ood, scores = _pooled(scores_id, scores_ood)
    return _aupr(is_ood, scores, method)


def detection_report(
    scores_id: ArrayLike, scores_ood: ArrayLike, *, aupr_method: AuprMethod = "average_precision"
) -> dict[str, float]:
    """All detection metrics of this module for one ID/OOD pair of score sets.

    Parameters
    ----------
    scores_id : array-like of shape (n_id,)
        Scores of in-distribution test samples, higher = more OOD.
    scores_ood : array-like of shape (n_ood,)
        Scores of OOD test samples.
    aupr_method : {"average_precision", "trapezoid"}
        Passed to :func:`aupr_in` and :func:`aupr_out` as ``method``.

    Returns
    -------
    dict of str to float
        Keys ``auroc``, ``fpr_at_95_tpr_id``, ``fpr_at_95_tpr_ood``, ``aupr_in``,
        ``aupr_out``; plain Python floats, so the dict serialises to JSON as is.
    """
    s_id = check_scores(scores_id, "scores_id")
    s_ood = check_scores(scores_ood, "scores_ood")
    return {
        "auroc": auroc(s_id, s_ood),
        "fpr_at_95_tpr_id": fpr_at_95_tpr_id(s_id, s_ood),
        "fpr_at_95_tpr_ood": fpr_at_95_tpr_ood(s_id, s_ood),
        "aupr_in": aupr_in(s_id, s_ood, method=aupr_method),
        "aupr_out": aupr_out(s_id, s_ood, method=aupr_method),
    }
