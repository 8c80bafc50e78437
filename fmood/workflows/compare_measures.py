"""What ``compare`` measures for one backbone: separability, a linear probe, throughput.

Two AUROCs of target against reference are measured. :func:`detector_separability` asks
how clearly the OOD detector, fitted on the reference alone, tells target images from held-out
reference images: the question fmood answers in use, and the ranking's default.
:func:`domain_classifier_auroc` asks whether *any* linear direction separates the two sets,
with a classifier trained on both; with hundreds of dimensions it is near 1 for almost any
visible shift, random weights included, so it says that a difference exists rather than how
clearly a backbone sees it.

Each function takes embeddings (and labels or groups) and a seed, so a fixed seed gives the
same numbers. The dataset distance (MMD) and the flagged share come straight from
:func:`fmood.distances.dataset_distance` and :class:`fmood.calibration.detector.OODDetector`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GroupShuffleSplit,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    StratifiedShuffleSplit,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fmood.calibration.detector import OODDetector
from fmood.errors import InvalidInputError
from fmood.metrics import augrc, aurc, auroc
from fmood.report.analysis import calibration_pvalues

#: Folds of the domain classifier (as :class:`fmood.distances.classifier.DomainClassifier`).
SEPARABILITY_FOLDS = 5
#: Inverse L2 penalty of the domain classifier and the probe: embeddings often have n ~ d,
#: where a weak penalty overfits (the domain classifier's default).
PENALTY_C = 0.1
#: Rows per side the domain classifier is fitted on (a seeded subsample beyond).
SEPARABILITY_MAX_SAMPLES = 2000
#: Share of the reference held out from the probe's training (whole patients when known).
PROBE_HELD_OUT = 0.3
_MAX_ITER = 1000


def detector_separability(detector: OODDetector, target_surprise: np.ndarray) -> float:
    """AUROC of the detector's surprise: target images against held-out reference images.

    The reference side is the detector's calibration part (held out from fitting, whole
    patients when groups were given), each image scored leave-one-out against the others as
    :func:`fmood.report.analysis.calibration_pvalues` does; the target side is each target
    image's surprise (-log10 of its combined p-value). 0.5: the detector cannot tell target
    from reference, 1: every target image is more atypical than every held-out reference one.

    Parameters
    ----------
    detector : OODDetector
        Fitted on the reference.
    target_surprise : ndarray of shape (n_target,)
        ``detector.assess(X_target)["surprise"]``.
    """
    reference_surprise = -np.log10(calibration_pvalues(detector))
    return auroc(reference_surprise, np.asarray(target_surprise, dtype=np.float64))


@dataclass(frozen=True)
class DomainClassifierAUROC:
    """Cross-validated AUROC of a linear classifier telling target (positive) from reference.

    Attributes
    ----------
    auroc : float
        0.5 when the sets cannot be told apart, 1.0 when they separate perfectly; below 0.5
        is noise of small samples.
    n_splits : int
        Folds used.
    group_aware : bool
        Whether folds kept each patient whole (a patient's slices are near-duplicates: split
        across folds, the classifier would recognise the patient, not the shift).
    n_reference, n_target : int
        Rows used per side (after the subsample cap).
    """

    auroc: float
    n_splits: int
    group_aware: bool
    n_reference: int
    n_target: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "C": PENALTY_C, "max_samples": SEPARABILITY_MAX_SAMPLES}


def domain_classifier_auroc(
    X_reference: np.ndarray,
    X_target: np.ndarray,
    *,
    groups_reference: np.ndarray | None = None,
    groups_target: np.ndarray | None = None,
    seed: int = 0,
    cv: int = SEPARABILITY_FOLDS,
    max_samples: int = SEPARABILITY_MAX_SAMPLES,
) -> DomainClassifierAUROC:
    """Domain-classifier AUROC of ``X_target`` against ``X_reference``, group-aware folds.

    The model and folds are those of :class:`fmood.distances.classifier.DomainClassifier`
    (standardised features, class-balanced logistic regression with ``C = 0.1``, every row
    scored once by the model of the fold that held it out), with one difference: given groups
    (patients), folds are :class:`~sklearn.model_selection.StratifiedGroupKFold`, so no patient
    is on both sides of a fold. A patient id found on both sides is one group. Without groups
    the value equals ``DomainClassifier(A, B, rng=np.random.default_rng(seed)).value``.

    Parameters
    ----------
    X_reference : ndarray of shape (n_reference, n_features)
    X_target : ndarray of shape (n_target, n_features)
    groups_reference, groups_target : ndarray of shape (n_reference,) / (n_target,), optional
        Patient of each row; rows of a side without groups are each their own group.
    seed : int
        Seeds the subsample and the folds.
    cv : int
        Folds, reduced to the groups (or rows) of the smaller side.
    max_samples : int
        Rows per side; larger sides are subsampled at random.

    Raises
    ------
    InvalidInputError
        Fewer than 2 rows (groups) on a side, or a training fold holding a single side.
    """
    rng = np.random.default_rng(seed)
    fold_seed = int(rng.integers(2**31))  # first draw: as DomainClassifier's folds
    keep_r = _subsample(X_reference.shape[0], max_samples, rng)
    keep_t = _subsample(X_target.shape[0], max_samples, rng)
    A, B = X_reference[keep_r], X_target[keep_t]
    n_a, n_b = A.shape[0], B.shape[0]
    X = np.concatenate([A, B])
    y = np.r_[np.zeros(n_a, dtype=np.int64), np.ones(n_b, dtype=np.int64)]
    group_aware = groups_reference is not None or groups_target is not None
    if group_aware:
        g_a = _row_groups(groups_reference, keep_r, "r")
        g_b = _row_groups(groups_target, keep_t, "t")
        groups = np.concatenate([g_a, g_b])
        n_splits = min(cv, np.unique(g_a).size, np.unique(g_b).size)
        folds = StratifiedGroupKFold(n_splits, shuffle=True, random_state=fold_seed)
    else:
        groups = None
        n_splits = min(cv, n_a, n_b)
        folds = StratifiedKFold(n_splits, shuffle=True, random_state=fold_seed)
    if n_splits < 2:
        raise InvalidInputError(
            f"the domain classifier needs at least 2 "
            f"{'patients' if group_aware else 'images'} on each side, got {n_splits}"
        )
    scores = np.empty(n_a + n_b)
    for train, test in folds.split(X, y, groups):
        if np.unique(y[train]).size < 2:
            raise InvalidInputError(
                "a cross-validation fold of the domain classifier holds only one side; the "
                "reference and target need more patients each"
            )
        model = _linear_model(class_weight="balanced").fit(X[train], y[train])
        scores[test] = model.decision_function(X[test])
    return DomainClassifierAUROC(
        auroc=auroc(scores[:n_a], scores[n_a:]),
        n_splits=int(n_splits),
        group_aware=group_aware,
        n_reference=n_a,
        n_target=n_b,
    )


@dataclass(frozen=True)
class ProbeResult:
    """A linear probe trained on the reference and tested on held-out reference and target.

    Attributes
    ----------
    reference_accuracy : float
        On the held-out part of the reference (whole patients when known).
    target_accuracy : float
        On the labelled target images.
    accuracy_drop : float
        ``reference_accuracy - target_accuracy``.
    error_auroc : float or None
        AUROC of the OOD evidence for the target images the probe got wrong (positive) against
        those it got right; None when it got all right or all wrong.
    error_aurc, error_augrc : float
        Area under the (generalized) risk-coverage curve of the probe on the target when
        images are deferred in order of OOD evidence (lower = the evidence finds the errors).
    confidence_aurc : float
        The same AURC with the probe's own confidence (maximum class probability) as the
        ranking, for comparison.
    n_train, n_held_out, n_target, n_target_errors : int
    classes : list of str
        Labels seen in training.
    held_out_by_patient : bool
    """

    reference_accuracy: float
    target_accuracy: float
    accuracy_drop: float
    error_auroc: float | None
    error_aurc: float
    error_augrc: float
    confidence_aurc: float
    n_train: int
    n_held_out: int
    n_target: int
    n_target_errors: int
    classes: list[str]
    held_out_by_patient: bool

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "C": PENALTY_C, "held_out_fraction": PROBE_HELD_OUT}


def linear_probe(
    X_reference: np.ndarray,
    y_reference: np.ndarray,
    X_target: np.ndarray,
    y_target: np.ndarray,
    uncertainty_target: np.ndarray,
    *,
    groups_reference: np.ndarray | None = None,
    seed: int = 0,
    held_out: float = PROBE_HELD_OUT,
) -> ProbeResult:
    """Train a standardised logistic regression on part of the reference; test it.

    Parameters
    ----------
    X_reference : ndarray of shape (n_reference, n_features)
    y_reference : ndarray of shape (n_reference,)
        Labels (strings; None where missing: those rows are left out).
    X_target : ndarray of shape (n_target, n_features)
    y_target : ndarray of shape (n_target,)
        Labels; missing ones are left out of every target number.
    uncertainty_target : ndarray of shape (n_target,)
        OOD evidence of each target image (higher = more OOD), ranking the probe's errors.
    groups_reference : ndarray of shape (n_reference,), optional
        Patients: the held-out part takes whole patients.
    seed : int
        Seeds the split (the model itself is deterministic).
    held_out : float in (0, 1)
        Share of the reference (of its patients) held out.

    Raises
    ------
    InvalidInputError
        Fewer than 2 labelled images on a side, or a training part with a single class.
    """
    known_r = np.array([v is not None for v in y_reference], dtype=bool)
    known_t = np.array([v is not None for v in y_target], dtype=bool)
    if known_r.sum() < 4 or known_t.sum() < 1:
        raise InvalidInputError(
            f"the linear probe needs labelled images: the reference has {int(known_r.sum())} "
            f"(need >= 4) and the target {int(known_t.sum())} (need >= 1)"
        )
    X_r, y_r = X_reference[known_r], y_reference[known_r].astype(str)
    groups = None if groups_reference is None else groups_reference[known_r]
    train, test = _held_out_split(y_r, groups, held_out, seed)
    classes = np.unique(y_r[train])
    if classes.size < 2:
        raise InvalidInputError(
            f"the probe's training part of the reference holds a single label ({classes[0]!r}); "
            "a label column needs at least two classes in the reference"
        )
    model = _linear_model(class_weight=None).fit(X_r[train], y_r[train])
    reference_accuracy = float(np.mean(model.predict(X_r[test]) == y_r[test]))
    X_t, y_t = X_target[known_t], y_target[known_t].astype(str)
    u = np.asarray(uncertainty_target, dtype=np.float64)[known_t]
    probabilities = model.predict_proba(X_t)
    predicted = model.classes_[np.argmax(probabilities, axis=1)]
    wrong = predicted != y_t
    target_accuracy = float(1.0 - wrong.mean())
    both = 0 < wrong.sum() < wrong.size
    return ProbeResult(
        reference_accuracy=reference_accuracy,
        target_accuracy=target_accuracy,
        accuracy_drop=reference_accuracy - target_accuracy,
        error_auroc=auroc(u[~wrong], u[wrong]) if both else None,
        error_aurc=aurc(u, wrong),
        error_augrc=augrc(u, wrong),
        confidence_aurc=aurc(-probabilities.max(axis=1), wrong),
        n_train=int(train.size),
        n_held_out=int(test.size),
        n_target=int(y_t.size),
        n_target_errors=int(wrong.sum()),
        classes=[str(c) for c in classes],
        held_out_by_patient=groups is not None,
    )


def labels_of(values: pd.Series) -> np.ndarray:
    """Labels as strings (None where missing); integral floats print as integers.

    A column with a missing value is read as float, so ``1`` in one manifest and ``1.0`` in
    the other still name the same class.
    """
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            out[i] = None
        elif isinstance(value, float) and value.is_integer():
            out[i] = str(int(value))
        else:
            out[i] = str(value)
    return out


def sample_throughput(backbone: Any, images: list[Any], batch_size: int) -> float | None:
    """Images per second of ``backbone.embed`` on in-memory ``images`` (after a warm-up)."""
    if not images:
        return None
    backbone.embed(images[:1], batch_size=1)  # first call pays for lazy set-up, not images
    started = time.perf_counter()
    backbone.embed(images, batch_size=batch_size)
    seconds = time.perf_counter() - started
    return len(images) / seconds if seconds > 0 else None


def _linear_model(class_weight: str | None) -> Any:
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(C=PENALTY_C, class_weight=class_weight, max_iter=_MAX_ITER),
    )


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    if n <= cap:
        return np.arange(n)
    return np.sort(rng.choice(n, size=cap, replace=False))


def _row_groups(groups: np.ndarray | None, keep: np.ndarray, side: str) -> np.ndarray:
    """Group label per kept row; rows without one are their own group."""
    if groups is None:
        return np.array([f"\x00{side}{i}" for i in keep], dtype=object).astype(str)
    return np.asarray(groups)[keep].astype(str)


def _held_out_split(
    y: np.ndarray, groups: np.ndarray | None, held_out: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out indices: whole patients with groups, else stratified by label."""
    index = np.zeros(y.size)
    if groups is not None:
        splitter = GroupShuffleSplit(1, test_size=held_out, random_state=seed)
        train, test = next(splitter.split(index, y, groups))
    else:
        _, counts = np.unique(y, return_counts=True)
        stratify = counts.min() >= 2 and round(held_out * y.size) >= counts.size
        splitter = (StratifiedShuffleSplit if stratify else ShuffleSplit)(
            1, test_size=held_out, random_state=seed
        )
        train, test = next(splitter.split(index, y))
    if train.size < 2 or test.size < 1:
        raise InvalidInputError(
            f"the reference is too small for the probe's held-out split: {y.size} labelled "
            f"images gave {train.size} to train and {test.size} to test"
        )
    return np.sort(train), np.sort(test)
