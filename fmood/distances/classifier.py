"""Domain-classifier distance: how well a linear model tells the two sets apart.

Proxy A-distance: Ben-David, Blitzer, Crammer & Pereira, "Analysis of representations for
domain adaptation", NeurIPS 2006; classifier two-sample tests: Lopez-Paz & Oquab,
"Revisiting classifier two-sample tests", ICLR 2017.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fmood._validation import check_per_sample, check_positive_int
from fmood.distances.base import PairDistance, check_positive_float
from fmood.errors import InvalidInputError


class DomainClassifier(PairDistance):
    """Cross-validated AUROC of a logistic regression separating ``B`` (label 1) from ``A``.

    Features are standardised inside each training fold (so constant features are harmless)
    and classes are weighted by inverse frequency. Every row is scored once, by the model of
    the fold that held it out; ``value`` is the AUROC of these out-of-fold scores: 0.5 when
    the sets are indistinguishable, 1.0 when they separate perfectly (below 0.5 is noise).

    With ``groups`` (patients, subjects) the folds keep each group whole
    (:class:`~sklearn.model_selection.StratifiedGroupKFold`): a patient's images are
    near-duplicates, and split across folds the classifier would recognise the patient
    rather than the shift.

    Bootstrap replicates resample the out-of-fold scores of ``A`` and ``B`` and recompute
    the AUROC without refitting, so the interval covers the evaluation noise but not the
    variation of the fitted models (refitting would cost ``n_bootstrap * cv`` fits).

    ``extra`` holds the proxy A-distance ``2 (1 - 2 err)`` (Ben-David et al. 2006), with
    ``err`` the balanced error rate of the out-of-fold predictions at the decision threshold
    0 (balanced rather than plain error so unequal set sizes do not shift it); it is about 0
    for indistinguishable sets, 2 for separable ones, and negative only by noise.

    Parameters
    ----------
    A : ndarray of shape (n_a, n_features)
    B : ndarray of shape (n_b, n_features)
    rng : Generator
        Shuffles the folds.
    cv : int
        Folds of the stratified k-fold; reduced to the size of the smaller set (its number of
        groups, with ``groups``) when that is smaller (at least 2).
    C : float
        Inverse L2 penalty. Below scikit-learn's 1.0 because embeddings often have
        ``n ~ d``, where a weak penalty overfits and converges slowly.
    max_iter : int
        L-BFGS iterations.
    groups : array-like of shape (n_a + n_b,), optional
        Group of each row, ``A``'s rows first; rows of one group stay in one fold. A group
        name found in both sets is one group.

    Raises
    ------
    InvalidInputError
        ``cv`` below 2; with ``groups``, a wrong length, fewer than 2 groups in a set, or a
        training fold that holds a single set.
    """

    name = "classifier"
    reference = "Ben-David et al., NeurIPS 2006 (proxy A-distance); Lopez-Paz & Oquab, ICLR 2017"
    # 4,000 rows x 768 features: 5 folds plus 5 null splits run in a few seconds.
    default_max_samples = 2000
    bounds = (0.0, 1.0)

    def __init__(
        self,
        A: np.ndarray,
        B: np.ndarray,
        *,
        rng: np.random.Generator,
        cv: int = 5,
        C: float = 0.1,
        max_iter: int = 1000,
        groups: np.ndarray | None = None,
    ) -> None:
        cv = check_positive_int(cv, "cv")
        if cv < 2:
            raise InvalidInputError(f"cv must be at least 2 folds, got {cv}")
        C = check_positive_float(C, "C")
        max_iter = check_positive_int(max_iter, "max_iter")
        n_a, n_b = A.shape[0], B.shape[0]
        groups = check_per_sample(groups, n_a + n_b, "groups")
        X = np.concatenate([A, B])
        y = np.r_[np.zeros(n_a, dtype=np.int64), np.ones(n_b, dtype=np.int64)]
        model = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=C, class_weight="balanced", max_iter=max_iter),
        )
        fold_seed = int(rng.integers(2**31))
        if groups is None:
            n_splits = min(cv, n_a, n_b)
            folds: StratifiedKFold | list = StratifiedKFold(
                n_splits, shuffle=True, random_state=fold_seed
            )
        else:
            n_splits = min(cv, np.unique(groups[:n_a]).size, np.unique(groups[n_a:]).size)
            folds = _group_folds(X, y, groups, n_splits, fold_seed)
        scores = cross_val_predict(model, X, y, cv=folds, method="decision_function")
        self._scores_a, self._scores_b = scores[:n_a], scores[n_a:]
        self.value = _auroc(self._scores_a, self._scores_b)
        balanced_error = 0.5 * (np.mean(self._scores_a > 0) + np.mean(self._scores_b <= 0))
        self.params = {"cv": cv, "C": C, "max_iter": max_iter}
        self.extra = {
            "n_splits": n_splits,
            "balanced_error": float(balanced_error),
            "proxy_a_distance": float(2.0 * (1.0 - 2.0 * balanced_error)),
        }

    def resample(self, idx_a: np.ndarray, idx_b: np.ndarray) -> float:
        return _auroc(self._scores_a[idx_a], self._scores_b[idx_b])


def _group_folds(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of a stratified k-fold that keeps each group whole."""
    if n_splits < 2:
        raise InvalidInputError(
            f"group-aware folds need at least 2 groups in each set, got {n_splits}"
        )
    splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
    folds = list(splitter.split(X, y, groups))
    # Whole groups can leave a training fold with one set only when a set has few groups;
    # the logistic regression cannot be fitted on one class.
    if any(np.unique(y[train]).size < 2 for train, _ in folds):
        raise InvalidInputError(
            "a training fold of the domain classifier holds only one set: its groups are "
            "too few or too unequal in size; give each set more groups"
        )
    return folds


def _auroc(scores_a: np.ndarray, scores_b: np.ndarray) -> float:
    """AUROC of scores, ``B`` being the positive class; shapes (n_a,) and (n_b,)."""
    y = np.r_[np.zeros(scores_a.size), np.ones(scores_b.size)]
    return float(roc_auc_score(y, np.concatenate([scores_a, scores_b])))
