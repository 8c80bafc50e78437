"""Detection metrics against sklearn, hand-computed FPR@95, and pytorch-ood 0.4.0."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fmood.errors import InvalidInputError
from fmood.metrics import (
    aupr_in,
    aupr_out,
    auroc,
    detection_report,
    fpr_at_95_tpr_id,
    fpr_at_95_tpr_ood,
)

ALL_METRICS = [auroc, fpr_at_95_tpr_id, fpr_at_95_tpr_ood, aupr_in, aupr_out, detection_report]


def _score_sets(seed: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s_id = rng.normal(0.0, 1.0, size=311)
    s_ood = rng.normal(1.2, 1.5, size=97)
    if ties:
        # coarse rounding makes many ID/OOD ties, the case where conventions diverge
        s_id, s_ood = np.round(s_id, 1), np.round(s_ood, 1)
    return s_id, s_ood


def _ceil_95_percent(n: int) -> int:
    return -(-95 * n // 100)  # integer ceil(0.95 n), free of float rounding


def _fpr95_id_by_hand(s_id: np.ndarray, s_ood: np.ndarray) -> float:
    # smallest threshold keeping >= 95% of ID (score <= t); OOD at or below it is accepted
    t = np.sort(s_id)[_ceil_95_percent(s_id.size) - 1]
    return float(np.mean(s_ood <= t))


def _fpr95_ood_by_hand(s_id: np.ndarray, s_ood: np.ndarray) -> float:
    # largest threshold flagging >= 95% of OOD (score >= t); ID at or above it is flagged
    t = np.sort(s_ood)[::-1][_ceil_95_percent(s_ood.size) - 1]
    return float(np.mean(s_id >= t))


def test_fpr95_tiny_example_by_hand():
    s_id = np.arange(20.0)  # 0, 1, ..., 19
    s_ood = np.array([5.5, 18.0, 18.5, 30.0])
    # ID positive: keeping 19 of 20 ID samples needs t = 18; OOD 5.5 and 18 (tie) pass -> 2/4
    assert fpr_at_95_tpr_id(s_id, s_ood) == 0.5
    # OOD positive: ceil(0.95 * 4) = 4 OOD must be flagged, t = 5.5; ID 6..19 flagged -> 14/20
    assert fpr_at_95_tpr_ood(s_id, s_ood) == 0.7


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fpr95_matches_numpy_by_hand(seed, ties):
    s_id, s_ood = _score_sets(seed, ties)
    assert fpr_at_95_tpr_id(s_id, s_ood) == pytest.approx(_fpr95_id_by_hand(s_id, s_ood), abs=1e-12)
    assert fpr_at_95_tpr_ood(s_id, s_ood) == pytest.approx(
        _fpr95_ood_by_hand(s_id, s_ood), abs=1e-12
    )


def test_fpr95_conventions_are_mirror_images():
    s_id, s_ood = _score_sets(3, ties=True)
    # swapping the sets and negating the scores swaps the roles of ID and OOD
    assert fpr_at_95_tpr_id(s_id, s_ood) == fpr_at_95_tpr_ood(-s_ood, -s_id)


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_and_aupr_match_sklearn(ties):
    s_id, s_ood = _score_sets(4, ties)
    y_ood = np.r_[np.zeros(s_id.size), np.ones(s_ood.size)]
    scores = np.r_[s_id, s_ood]
    assert auroc(s_id, s_ood) == pytest.approx(roc_auc_score(y_ood, scores), abs=1e-12)
    assert aupr_out(s_id, s_ood) == pytest.approx(average_precision_score(y_ood, scores), abs=1e-12)
    assert aupr_in(s_id, s_ood) == pytest.approx(
        average_precision_score(1 - y_ood, -scores), abs=1e-12
    )


def test_auroc_chance_and_perfect():
    assert auroc([1.0, 1.0], [1.0, 1.0]) == 0.5  # all tied: ties count half
    assert auroc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert auroc([2.0, 3.0], [0.0, 1.0]) == 0.0


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [5, 6])
def test_reproduces_pytorch_ood(seed, ties):
    torch = pytest.importorskip("torch")
    OODMetrics = pytest.importorskip("pytorch_ood.metrics").OODMetrics
    # pytorch-ood 0.4.0 (pytorch_ood/metrics/ood.py, functional.py): OODMetrics lives in
    # pytorch_ood.metrics (not pytorch_ood.utils); labels < 0 mark OOD, OOD is the positive
    # class, larger scores = more OOD (our convention, so scores pass unchanged). Its FPR95TPR
    # is the FPR at the first ROC point with OOD-TPR >= 0.95, i.e. fmood's fpr_at_95_tpr_ood.
    # Its AUPR-IN / AUPR-OUT are trapezoidal (sklearn.metrics.auc on the PR curve), i.e.
    # method="trapezoid" here, not the average precision we default to.
    s_id, s_ood = _score_sets(seed, ties)
    rng = np.random.default_rng(seed)
    labels = np.r_[rng.integers(0, 5, size=s_id.size), np.full(s_ood.size, -1)]
    metrics = OODMetrics()
    metrics.update(torch.as_tensor(np.r_[s_id, s_ood]), torch.as_tensor(labels))
    ref = metrics.compute()

    assert auroc(s_id, s_ood) == pytest.approx(ref["AUROC"], abs=1e-6)
    assert fpr_at_95_tpr_ood(s_id, s_ood) == pytest.approx(ref["FPR95TPR"], abs=1e-6)
    assert aupr_in(s_id, s_ood, method="trapezoid") == pytest.approx(ref["AUPR-IN"], abs=1e-6)
    assert aupr_out(s_id, s_ood, method="trapezoid") == pytest.approx(ref["AUPR-OUT"], abs=1e-6)


def test_aupr_methods_differ_on_small_sets():
    s_id, s_ood = _score_sets(7, ties=False)
    s_id, s_ood = s_id[:40], s_ood[:10]
    assert abs(aupr_out(s_id, s_ood) - aupr_out(s_id, s_ood, method="trapezoid")) > 1e-4


def test_detection_report_collects_plain_floats():
    s_id, s_ood = _score_sets(8, ties=True)
    report = detection_report(s_id, s_ood)
    assert report == {
        "auroc": auroc(s_id, s_ood),
        "fpr_at_95_tpr_id": fpr_at_95_tpr_id(s_id, s_ood),
        "fpr_at_95_tpr_ood": fpr_at_95_tpr_ood(s_id, s_ood),
        "aupr_in": aupr_in(s_id, s_ood),
        "aupr_out": aupr_out(s_id, s_ood),
    }
    assert all(type(v) is float for v in report.values())
    json.dumps(report)
    trapezoid = detection_report(s_id, s_ood, aupr_method="trapezoid")
    assert trapezoid["aupr_out"] == aupr_out(s_id, s_ood, method="trapezoid")


def test_accepts_lists_and_integers():
    assert auroc([0, 1, 2], [3, 4]) == 1.0


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize(
    ("scores_id", "scores_ood", "message"),
    [
        ([], [1.0, 2.0], "at least 1"),
        ([1.0, 2.0], [], "at least 1"),  # a single class
        ([1.0, np.nan], [2.0], "NaN or infinite"),
        ([1.0], [2.0, np.inf], "NaN or infinite"),
        ([[1.0, 2.0]], [2.0], "1-D"),
        (["a", "b"], [2.0], "numeric"),
    ],
)
def test_bad_inputs_raise(metric, scores_id, scores_ood, message):
    with pytest.raises(InvalidInputError, match=message):
        metric(scores_id, scores_ood)


def test_unknown_aupr_method_raises():
    with pytest.raises(InvalidInputError, match="trapezoid"):
        aupr_out([0.0], [1.0], method="interpolated")
