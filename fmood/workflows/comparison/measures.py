"""What ``compare`` measures on one backbone's embeddings: separability, domain classifier, probe.

Two AUROCs of target against reference are measured. :func:`detector_separability` asks
how clearly the OOD detector, fitted on the reference alone, tells target images from held-out
reference images: the question fmood answers in use, and the ranking's default.
:func:`domain_classifier_auroc` asks whether *any* linear direction separates the two sets,
with a classifier trained on both; with hundreds of dimensions it is near 1 for almost any
visible shift, random weights included, so it says that a difference exists rather than how
clearly a backbone sees it.

Each function takes embeddings (and labels or groups) and a seed, so a fixed seed gives the
same numbers. The models are fmood's own: :class:`fmood.distances.classifier.DomainClassifier`
and :class:`fmood.metrics.probe.LinearProbe`; the dataset distance (MMD) and the flagged
share come straight from :func:`fmood.distances.dataset_distance` and
:class:`fmood.calibration.detector.OODDetector` (see :mod:`.record`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit

from fmood.calibration.detector import OODDetector
from fmood.distances.classifier import DomainClassifier
from fmood.errors import InvalidInputError
from fmood.metrics import augrc, aurc, auroc
from fmood.metrics.probe import LinearProbe
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
    """:class:`~fmood.distances.classifier.DomainClassifier` of target against reference.

    Given groups (patients), its folds keep each patient whole; a patient id found on both
    sides is one group, and rows of a side without groups are each their own group. Without
    groups and subsampling the value equals ``DomainClassifier(A, B,
    rng=np.random.default_rng(seed)).value``.

    Parameters
    ----------
    X_reference : ndarray of shape (n_reference, n_features)
    X_target : ndarray of shape (n_target, n_features)
    groups_reference, groups_target : ndarray of shape (n_reference,) / (n_target,), optional
        Patient of each row.
    seed : int
        Seeds the folds (the first draw, as :class:`DomainClassifier` takes it) and the
        subsample (the draws after it), as fmood 0.1 did.
    cv : int
        Folds, reduced to the groups (or rows) of the smaller side.
    max_samples : int
        Rows per side; larger sides are subsampled at random.

    Raises
    ------
    InvalidInputError
        Fewer than 2 groups on a side, or a training fold holding a single side.
    """
    # DomainClassifier's fold seed is the first draw of the seed's stream and the subsample
    # the draws after it, as in fmood 0.1's compare: the same seed gives the same AUROC.
    classifier_rng = np.random.default_rng(seed)
    rng = np.random.default_rng(seed)
    rng.integers(2**31)
    keep_r = _subsample(X_reference.shape[0], max_samples, rng)
    keep_t = _subsample(X_target.shape[0], max_samples, rng)
    group_aware = groups_reference is not None or groups_target is not None
    groups = None
    if group_aware:
        groups = np.concatenate(
            [_row_groups(groups_reference, keep_r, "r"), _row_groups(groups_target, keep_t, "t")]
        )
    classifier = DomainClassifier(
        X_reference[keep_r], X_target[keep_t], rng=classifier_rng, cv=cv, C=PENALTY_C, groups=groups
    )
    return DomainClassifierAUROC(
        auroc=classifier.value,
        n_splits=int(classifier.extra["n_splits"]),
        group_aware=group_aware,
        n_reference=keep_r.size,
        n_target=keep_t.size,
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
    """Train a :class:`~fmood.metrics.probe.LinearProbe` on part of the reference; test it.

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
    # PENALTY_C is scikit-learn's C, as compare has always fitted it; LinearProbe's C is the
    # multinomial one, which for two classes is half scikit-learn's binary C.
    C = PENALTY_C / 2 if classes.size == 2 else PENALTY_C
    probe = LinearProbe(C=C).fit(X_r[train], y_r[train])
    reference_accuracy = float(np.mean(probe.predict(X_r[test]) == y_r[test]))
    X_t, y_t = X_target[known_t], y_target[known_t].astype(str)
    u = np.asarray(uncertainty_target, dtype=np.float64)[known_t]
    probabilities = probe.predict_proba(X_t)
    wrong = probe.classes_[np.argmax(probabilities, axis=1)] != y_t
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


def label_strings(values: pd.Series) -> np.ndarray:
    """Class labels as an object array of strings, None where missing.

    Integral floats print as integers: a column with a missing value is read as float, so
    ``1`` in one manifest and ``1.0`` in the other still name the same class. (Unlike
    :func:`fmood.report.groups.labels_of`, which makes display strings with ``(missing)``.)
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
