"""OODDetector: raw scores -> calibrated p-values -> a continuous OOD degree, with flags."""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, clone

from fmood._validation import (
    check_embeddings,
    check_is_fitted,
    check_per_sample,
    check_positive_int,
)
from fmood._version import __version__
from fmood.calibration.combine import benjamini_hochberg, cauchy_statistic
from fmood.calibration.conformal import ConformalCalibrator, CrossConformalCalibrator
from fmood.calibration.split import calibration_folds, calibration_split
from fmood.errors import InvalidInputError, StoreCorruptError, StoreVersionError
from fmood.scorers.base import (
    FEATURES,
    BaseScorer,
    StateSpec,
    check_params,
    check_state,
    construct,
    get_scorer,
    l2_normalize,
)
from fmood.utils.atomic import staged_directory, write_atomic, write_bytes_atomic
from fmood.utils.index import build_index, search, train_and_add

ScorerSpec = str | BaseScorer | tuple[str, dict[str, Any]]

#: The default scorers; see :class:`OODDetector` for why these.
DEFAULT_SCORERS: tuple[ScorerSpec, ...] = (
    ("mahalanobis", {"normalize": True}),
    ("residual", {"normalize": True}),
)
#: 2: Mahalanobis and residual states may be in the Gram form (``basis_``, ``principal_``),
#: which fmood before it cannot read. 3: cross-conformal calibration: several fitted models
#: (``model<k>.scorer<i>.*``), the model of each calibration score (``calibration_folds``),
#: ``n_models`` and ``calibration_groups``. Versions 1 and 2 (split conformal) still load.
FORMAT_VERSION = 3
CALIBRATIONS = ("cross", "cv+", "split")
#: Below either size the reference is small (:class:`SmallReferenceWarning`).
SMALL_CALIBRATION, SMALL_GROUPS = 50, 5
_POOLED = "__pooled__"
#: What a damaged or edited detector file needs.
_FIX = "the detector files are damaged or were edited; re-fit the detector and save it again"


class SmallReferenceWarning(UserWarning):
    """The calibration holds too few images or groups for small p-values to mean much."""


class OODDetector(BaseEstimator):
    """Calibrated, continuous OOD degree on top of one or several raw scorers.

    ``fit`` calibrates on in-distribution reference images the scorers never saw, group-aware
    (every sample of one patient, volume or site stays on one side):

    - ``calibration="cross"`` (default, cross-fitted): the reference is cut into ``n_folds``
      folds by group; for each fold the scorers are fitted on the other folds and score it, so
      every reference image both fits (K - 1 models) and calibrates (one out-of-fold score).
      A new image's score is the mean of the K models' scores, compared with the pooled
      out-of-fold scores. It ranks like the scorers fitted on the whole reference. Validity
      rests on stability, not on a theorem: each model's score of a new image is exchangeable
      with its own fold's scores, and the mean of K such scores is less spread than one
      (convex order), so in practice p-values are at or above nominal; in the worst case
      (unstable scorers) ``P(p <= alpha)`` is bounded only by about ``K alpha`` (a union
      bound over the models). Measured on the medical benchmark (held-out subjects, 20
      splits): ID share with p <= 0.05 of 0.055 / 0.052, with p <= 0.1 of 0.097 / 0.088
      (EfficientNet-Lite0 / + blocks 2, 4).
    - ``calibration="cv+"`` (cross-conformal, Vovk 2015; CV+, Barber, Candes, Ramdas &
      Tibshirani 2021): the same folds, but each model's score is compared with its own
      fold's scores and the counts are pooled
      (:class:`~fmood.calibration.conformal.CrossConformalCalibrator`). Proven: ``P(p <= alpha)
      <= 2 alpha`` per scorer, plus a term of order ``K / n`` (Barber et al. 2021, Theorem 4); near
      ``alpha`` in practice. Each fold's count is a step function of its own model's score,
      which costs ranking (near-OOD AUROC 0.905 vs 0.909 for ``"cross"`` on the benchmark).
    - ``calibration="split"``: the scorers are fitted on a part of the reference and calibrated
      on the held-out ``calibration_fraction``; exact ``P(p <= alpha) <= alpha`` for the
      conformal part and PRDS p-values, so Benjamini-Hochberg controls the FDR (Bates et al.
      2023), at the cost of fitting on less data (near-OOD AUROC 0.897 on the benchmark).

    Cross-fitting scores every image with K models, so scoring costs K times a single
    model's (each scorer scores in its own bounded chunks).

    For a new image:

    - ``pvalues``: a conformal p-value per scorer (tail-extended beyond the calibration range,
      see :class:`~fmood.calibration.conformal.ConformalCalibrator`), then one combined p-value:
      the scorers' p-values are merged with the Cauchy combination statistic, and that statistic
      is itself calibrated conformally (leave-one-out on the calibration part), so the combined
      p-value is valid whatever the dependence between scorers.
    - ``degree = 1 - p_combined``: "more atypical than this fraction of the reference". A degree
      of 0.999 means about one reference image in 1,000 looks this unusual. Above the largest
      calibration score the degree comes from the fitted tail and keeps ranking images;
      ``surprise = -log10(p_combined)`` carries that ranking where the degree rounds to 1.
    - ``flag``: Benjamini-Hochberg at false-discovery rate ``alpha`` across the images scored
      together.

    With ``domains`` (site or scanner of each reference sample) the calibration is
    group-conditional: each image is assigned the reference domain most common among its
    nearest reference neighbours and gets p-values against that domain's calibration scores, so
    benign site-to-site variation inside the reference is not flagged. Domains with fewer than
    ``min_domain_calibration`` calibration samples use the pooled calibration; after ``fit``,
    ``domain_calibration_`` maps each domain to "own" or "pooled".

    With a small calibration (fewer than 50 images or 5 groups) ``fit`` and ``assess`` warn
    (:class:`SmallReferenceWarning`): the p-values are then valid only on average over
    references and the fitted tail is unreliable, so p-values are floored at
    ``min_pvalue_ = 1 / (n_calibration + 1) ** 2`` (see ``min_pvalue_`` below).

    Parameters
    ----------
    scorers : sequence of scorer name, scorer instance or (name, params), optional
        Defaults to Mahalanobis and residual on L2-normalised features (Mahalanobis++,
        Mueller & Hein 2025): the two halves of a feature space, the Gaussian shape inside
        the principal subspace (label-free Mahalanobis, Ledoit-Wolf shrinkage) and the energy
        outside it (ViM's residual, the leader of OpenMIBOOD's near-OOD table). Both are
        label-free and fast. On the medical benchmark (``benchmarks/medical_ood``, cross-fitted
        calibration) normalising raised EfficientNet-Lite0's severity-1 artifact AUROC from
        0.695 to 0.717, its mean Spearman with severity from 0.854 to 0.863 and its near-OOD
        AUROC from 0.909 to 0.912, with the in-distribution share of p <= 0.05 at 0.048; it
        changes nothing on multi-layer embeddings, whose blocks are unit-norm already.
        ``residual_mahalanobis`` and a third GMM scorer gained at most 0.005 there (noise).
    calibration : {"cross", "cv+", "split"}
        Cross-fitted (default), cross-conformal CV+ or split-conformal calibration; see above.
    n_folds : int
        Folds of cross-fitted and CV+ calibration (at most one per group; two groups give two).
    calibration_fraction : float
        Share of the reference (or of its groups) held out by split calibration.
    tail : bool
        Extend p-values beyond the calibration range with a fitted tail.
    domain_neighbors : int
        Reference neighbours that vote on an image's domain.
    min_domain_calibration : int
        Fewest calibration samples for a domain to be calibrated on its own.
    refit : bool
        After calibration, refit the scorers on the whole reference (calibration part
        included) to score new images against the held-out (split) or pooled out-of-fold
        (cross) calibration scores: a sharper ranking for less exact p-values. The
        calibration scores still come from the part-fitted scorers on held-out data, and a
        scorer fitted on more data gives a new in-distribution image a lower score than it gave
        the held-out part, so p-values become conservative. Measured on the medical benchmark
        (EfficientNet-Lite0 + blocks 2, 4): near-OOD AUROC 0.933 -> 0.940, in-distribution share
        with p <= 0.1 on held-out subjects 0.090 -> 0.067; KNN in few dimensions is affected
        most. With ``"cross"`` it adds little (0.9408 -> 0.9405): the mean of the fold models
        already ranks like a whole-reference fit.
    random_state : int

    Attributes
    ----------
    models_ : list of n_models lists of n_scorers fitted scorers
        One model per fold (cross, cv+) or a single one (split, or ``refit``).
    scorer_names_ : list of str
        Column name of each scorer (its ``label`` for a block scorer), made unique.
    calibration_scores_ : ndarray of shape (n_calibration, n_scorers)
        Held-out scores (split) or out-of-fold scores of every reference image (cross, cv+).
    calibration_folds_ : ndarray of shape (n_calibration,)
        The fold each calibration score was held out in (0 for split); without ``refit``,
        fold k's scores come from ``models_[k]``.
    calibration_size_, calibration_groups_ : int
        Calibration images, and the distinct groups among them (images when no groups).
    small_reference_ : bool
        Fewer than 50 calibration images or fewer than 5 groups.
    conformal_floor_ : float
        ``1 / (n_calibration + 1)``: the smallest p-value the calibration backs without the
        fitted tail; smaller ones are the tail's extrapolation.
    min_pvalue_ : float
        Floor of every reported p-value: ``conformal_floor_ ** 2`` for a small reference, 0
        otherwise. A tail fitted on a few tens of scores, or on a few correlated patients,
        estimates neither its shape nor its scale well (48 slices of 2 subjects gave clean
        slices of a third subject p around 1e-41), so it may extend the conformal floor by at
        most one more factor ``n + 1``: as far beyond the data as a calibration of ``n ** 2``
        images would reach empirically. Beyond it images tie at the floor.
    n_features_in_ : int
        Number of features seen by ``fit``.
    domains_ : ndarray of shape (n_domains,) or None
        The reference domains, sorted (None without ``domains``).
    domain_calibration_ : dict of str to {"own", "pooled"}
        The calibration each domain uses (empty without ``domains``).
    domain_reference_ : ndarray of shape (n_reference, n_features), float32
        With domains: the L2-normalised reference rows that vote on a new image's domain.
    domain_reference_codes_ : ndarray of shape (n_reference,)
        Their domain, as an index into ``domains_``.
    calibration_domain_codes_ : ndarray of shape (n_calibration,)
        The domain of each calibration score, as an index into ``domains_``.

    See Also
    --------
    fmood.scorers : the raw scorers (``get_scorer``, ``list_scorers``).
    fmood.calibration.conformal.ConformalCalibrator : one scorer's conformal p-values.

    References
    ----------
    Vovk, "Cross-conformal predictors", Annals of Mathematics and Artificial Intelligence 2015.
    Barber, Candes, Ramdas & Tibshirani, "Predictive inference with the jackknife+", Annals of
    Statistics 2021. Bates, Candes, Lei, Romano & Sesia, "Testing for outliers with conformal
    p-values", Annals of Statistics 2023. Liu & Xie, "Cauchy combination test", JASA 2020.
    Benjamini & Hochberg, "Controlling the false discovery rate", JRSS B 1995.

    Examples
    --------
    >>> import numpy as np
    >>> from fmood.calibration.detector import OODDetector
    >>> rng = np.random.default_rng(0)
    >>> reference = rng.normal(size=(300, 8))
    >>> detector = OODDetector(scorers=["mahalanobis"]).fit(reference)
    >>> new = np.vstack([rng.normal(size=(3, 8)), rng.normal(size=(2, 8)) + 6])
    >>> table = detector.assess(new)
    >>> list(table.columns)
    ['mahalanobis', 'p_mahalanobis', 'p_combined', 'degree', 'surprise', 'flagged']
    >>> table["flagged"].tolist()
    [False, False, False, True, True]
    """

    def __init__(
        self,
        scorers: Sequence[ScorerSpec] | None = None,
        calibration: str = "cross",
        n_folds: int = 5,
        calibration_fraction: float = 0.3,
        tail: bool = True,
        domain_neighbors: int = 10,
        min_domain_calibration: int = 30,
        refit: bool = False,
        random_state: int = 0,
    ) -> None:
        self.scorers = scorers
        self.calibration = calibration
        self.n_folds = n_folds
        self.calibration_fraction = calibration_fraction
        self.tail = tail
        self.refit = refit
        self.domain_neighbors = domain_neighbors
        self.min_domain_calibration = min_domain_calibration
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike | None = None,
        groups: ArrayLike | None = None,
        domains: ArrayLike | None = None,
    ) -> OODDetector:
        """Fit the scorers and calibrate them on in-distribution reference embeddings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Class labels, passed to scorers that use them.
        groups : array-like of shape (n_samples,), optional
            Patient / volume id of each sample: the calibration split never cuts a group.
        domains : array-like of shape (n_samples,), optional
            Site or scanner of each sample, for group-conditional calibration.
        """
        X = check_embeddings(X, "X", min_samples=2)
        n = X.shape[0]
        y = check_per_sample(y, n, "y")
        domains = check_per_sample(domains, n, "domains")
        groups = check_per_sample(groups, n, "groups")
        if self.calibration not in CALIBRATIONS:
            raise InvalidInputError(
                f"calibration must be one of {', '.join(CALIBRATIONS)}, got {self.calibration!r}"
            )
        if not 0.0 < self.calibration_fraction < 1.0:  # checked whichever calibration is used
            raise InvalidInputError(
                f"calibration_fraction must be in (0, 1), got {self.calibration_fraction}"
            )
        specs = DEFAULT_SCORERS if self.scorers is None else self.scorers
        if not specs:
            raise InvalidInputError(
                "scorers is empty; give at least one scorer or None for the default"
            )

        def fitted(rows: np.ndarray) -> list[BaseScorer]:
            return [_build(spec).fit(X[rows], None if y is None else y[rows]) for spec in specs]

        if self.calibration == "split":
            fit_idx, cal_idx = calibration_split(
                n,
                groups=groups,
                calibration_fraction=self.calibration_fraction,
                random_state=self.random_state,
            )
            self.models_ = [fitted(fit_idx)]
            self.calibration_scores_ = self._raw(X[cal_idx])[:, 0]
            self.calibration_folds_ = np.zeros(cal_idx.size, dtype=np.int64)
            reference_idx = fit_idx
        else:
            folds = calibration_folds(
                n, groups=groups, n_folds=self.n_folds, random_state=self.random_state
            )
            self.models_ = [fitted(np.flatnonzero(folds != k)) for k in range(folds.max() + 1)]
            self.calibration_scores_ = np.empty((n, len(specs)))
            for k, model in enumerate(self.models_):
                self.calibration_scores_[folds == k] = _model_scores(model, X[folds == k])
            self.calibration_folds_ = folds
            cal_idx = reference_idx = np.arange(n)
        self.scorer_names_ = _unique_names([_label(s) for s in self.models_[0]])
        if self.refit:
            self.models_ = [fitted(np.arange(n))]
        self.calibration_groups_ = (
            cal_idx.size if groups is None else int(np.unique(groups[cal_idx]).size)
        )
        self.n_features_in_ = X.shape[1]
        if domains is None:
            self.domains_ = None
        else:
            self.domains_, codes = np.unique(domains.astype(str), return_inverse=True)
            self.domain_reference_ = l2_normalize(X[reference_idx])
            self.domain_reference_codes_ = codes[reference_idx]
            self.calibration_domain_codes_ = codes[cal_idx]
        self._calibrate()
        if self.small_reference_:
            warnings.warn(self._small_reference_message(), SmallReferenceWarning, stacklevel=2)
        return self

    def __getstate__(self) -> dict[str, Any]:
        # The domain index is a FAISS (SWIG) object; _calibrate rebuilds it on unpickling.
        state = dict(super().__getstate__())  # a copy: on Python >= 3.11 the live __dict__
        state.pop("_domain_index", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "calibration_scores_" in state:
            self._calibrate()

    def _calibrate(self) -> None:
        """Build the calibrators from the stored calibration scores (also used by ``load``)."""
        self.calibration_size_ = int(self.calibration_scores_.shape[0])
        self.small_reference_ = bool(
            self.calibration_size_ < SMALL_CALIBRATION or self.calibration_groups_ < SMALL_GROUPS
        )
        self.conformal_floor_ = 1.0 / (self.calibration_size_ + 1)
        self.min_pvalue_ = self.conformal_floor_**2 if self.small_reference_ else 0.0
        self._calibrators = {
            _POOLED: self._calibrators_for(self.calibration_scores_, self._slots())
        }
        self._domain_index = None
        self.domain_calibration_: dict[str, str] = {}
        if self.domains_ is None:
            return
        for code, name in enumerate(self.domains_):
            in_domain = self.calibration_domain_codes_ == code
            own = in_domain.sum() >= self.min_domain_calibration
            self.domain_calibration_[str(name)] = "own" if own else "pooled"
            if own:
                self._calibrators[name] = self._calibrators_for(
                    self.calibration_scores_[in_domain], self._slots()[in_domain]
                )
        self._domain_index = build_index(self.domain_reference_.shape[1], "Flat", "l2")
        train_and_add(self._domain_index, self.domain_reference_)

    def _calibrators_for(
        self, scores: np.ndarray, models: np.ndarray
    ) -> tuple[list[CrossConformalCalibrator], ConformalCalibrator]:
        """Per-scorer calibrators (pooled over models) and the combined statistic's one."""
        per_scorer = [
            CrossConformalCalibrator(tail=self.tail).fit(col, models, self._n_slots())
            for col in scores.T
        ]
        combined = ConformalCalibrator(tail=self.tail).fit(
            cauchy_statistic(np.log(_leave_one_out_p(scores)))
        )
        return per_scorer, combined

    # -- scoring ---------------------------------------------------------------------
    def _raw(self, X: np.ndarray) -> np.ndarray:
        """Every model's scores, shape (n_samples, n_models, n_scorers)."""
        return np.stack([_model_scores(model, X) for model in self.models_], axis=1)

    def _n_slots(self) -> int:
        """Calibrations a new image's scores are compared with: one per fold model for CV+."""
        return len(self.models_) if self.calibration == "cv+" and not self.refit else 1

    def _slots(self) -> np.ndarray:
        """The calibration each calibration score belongs to, shape (n_calibration,)."""
        if self._n_slots() == 1:
            return np.zeros_like(self.calibration_folds_)
        return self.calibration_folds_

    def _small_reference_message(self) -> str:
        return (
            f"the detector is calibrated on only {self.calibration_size_} images from "
            f"{self.calibration_groups_} groups (fewer than {SMALL_CALIBRATION} images or "
            f"{SMALL_GROUPS} groups): its p-values vary a lot with the choice of reference and "
            f"the fitted tail is unreliable, so p-values are floored at {self.min_pvalue_:.1e} "
            f"(surprise at most {-np.log10(self.min_pvalue_):.1f}); add reference images from "
            "more patients"
        )

    def _check(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self, "models_")
        return check_embeddings(X, "X", dim=self.n_features_in_)

    def _assign_domains(self, X: np.ndarray) -> np.ndarray:
        # Called only with domains, for which _calibrate built the index.
        assert self._domain_index is not None and self.domains_ is not None
        n_domains = len(self.domains_)
        k = min(int(self.domain_neighbors), self.domain_reference_.shape[0])
        ids = search(self._domain_index, l2_normalize(X), k)[1]
        votes = self.domain_reference_codes_[ids]
        counts = np.apply_along_axis(lambda row: np.bincount(row, minlength=n_domains), 1, votes)
        return self.domains_[counts.argmax(axis=1)]

    def assess(self, X: ArrayLike, alpha: float | None = 0.05) -> pd.DataFrame:
        """Everything about each image, one row per row of ``X``.

        Columns: one raw score per scorer (its name), ``p_<scorer>`` per scorer, ``p_combined``,
        ``degree``, ``surprise`` (-log10 p_combined), ``flagged`` (BH at ``alpha`` across these
        rows; left out with ``alpha=None``, e.g. to score in chunks and flag all rows after)
        and, with domains, ``domain`` (the reference domain the image was calibrated
        against) and ``domain_calibration`` ("own" or "pooled"). With several models (cross,
        cv+) the raw score is their mean. Warns (:class:`SmallReferenceWarning`) for a small
        reference; p-values are then floored at ``min_pvalue_``.
        """
        X = self._check(X)
        if self.small_reference_:
            warnings.warn(self._small_reference_message(), SmallReferenceWarning, stacklevel=2)
        by_model = self._raw(X)
        raw = by_model.mean(axis=1)
        if self._n_slots() == 1:
            by_model = raw[:, None, :]
        table = pd.DataFrame(raw, columns=self.scorer_names_)
        keys = np.full(X.shape[0], _POOLED, dtype=object)
        if self.domains_ is not None:
            table["domain"] = self._assign_domains(X)
            own = np.isin(table["domain"], list(self._calibrators))
            keys[own] = table["domain"][own]
            table["domain_calibration"] = np.where(own, "own", "pooled")
        log_p = np.empty_like(raw)
        log_combined = np.empty(X.shape[0])
        log_floor = np.log(self.min_pvalue_) if self.min_pvalue_ > 0 else -np.inf
        for key in np.unique(keys):
            rows = keys == key
            per_scorer, comb = self._calibrators[key]
            log_p[rows] = np.column_stack(
                [c.log_pvalues(by_model[rows, :, j]) for j, c in enumerate(per_scorer)]
            )
            log_p[rows] = np.maximum(log_p[rows], log_floor)
            log_combined[rows] = np.maximum(
                comb.log_pvalues(cauchy_statistic(log_p[rows])), log_floor
            )
        for j, name in enumerate(self.scorer_names_):
            table[f"p_{name}"] = np.exp(log_p[:, j])
        combined = np.exp(log_combined)
        table["p_combined"] = combined
        table["degree"] = 0.0 - np.expm1(log_combined)  # 0.0 - : no "-0.0" for p = 1
        table["surprise"] = -log_combined / np.log(10.0)
        if alpha is not None:
            table["flagged"] = benjamini_hochberg(combined, alpha) if len(table) else []
        return table

    def score(self, X: ArrayLike) -> pd.DataFrame:
        """Raw scores, one column per scorer, shape (n_samples, n_scorers); higher = more OOD.

        With several models (cross, cv+) each column is the mean of the models' scores.
        """
        return pd.DataFrame(self._raw(self._check(X)).mean(axis=1), columns=self.scorer_names_)

    def pvalues(self, X: ArrayLike) -> pd.DataFrame:
        """Per-scorer p-values (``p_<scorer>``) and the combined one (``p_combined``)."""
        table = self.assess(X, alpha=None)
        return table[[c for c in table.columns if c.startswith("p_")]]

    def degree(self, X: ArrayLike) -> np.ndarray:
        """OOD degree in [0, 1] of each row of ``X``, shape (n_samples,)."""
        return self.assess(X, alpha=None)["degree"].to_numpy()

    def flag(self, X: ArrayLike, alpha: float = 0.05) -> np.ndarray:
        """Boolean mask of images flagged OOD, false-discovery rate ``alpha`` (Benjamini-Hochberg)."""
        return self.assess(X, alpha)["flagged"].to_numpy()

    # -- persistence -----------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted detector to directory ``path`` (JSON + ``.npz``, no pickle).

        The files are written into a temporary sibling directory that then replaces ``path``,
        so an interrupted save leaves the previous detector (or nothing) at ``path``, never a
        mix. A non-empty ``path`` that is not a saved detector is refused.
        """
        check_is_fitted(self, "models_")
        path = Path(path)
        if path.exists() and any(path.iterdir()) and not (path / "detector.json").exists():
            raise InvalidInputError(
                f"{path}: exists and is not a saved OODDetector; choose an empty or new directory"
            )
        arrays = {
            "calibration_scores": self.calibration_scores_,
            "calibration_folds": self.calibration_folds_,
        }
        for m, model in enumerate(self.models_):
            for i, scorer in enumerate(model):
                arrays.update({f"model{m}.scorer{i}.{k}": v for k, v in scorer.get_state().items()})
        if self.domains_ is not None:
            arrays["domain_reference"] = self.domain_reference_
            arrays["domain_reference_codes"] = self.domain_reference_codes_
            arrays["calibration_domain_codes"] = self.calibration_domain_codes_
        config = {
            "format": "fmood.detector",
            "format_version": FORMAT_VERSION,
            "fmood_version": __version__,
            "params": {k: v for k, v in self.get_params(deep=False).items() if k != "scorers"},
            "scorers": [
                {"name": s.name, "params": s.get_params(deep=False)} for s in self.models_[0]
            ],
            "n_models": len(self.models_),
            "calibration_groups": self.calibration_groups_,
            "n_features_in": self.n_features_in_,
            "domains": None if self.domains_ is None else [str(d) for d in self.domains_],
        }
        with staged_directory(path) as staging:
            write_atomic(staging / "arrays.npz", lambda tmp: _savez(tmp, arrays))
            write_bytes_atomic(staging / "detector.json", json.dumps(config, indent=2).encode())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> OODDetector:
        """Read a detector written by :meth:`save`.

        Every field of ``detector.json`` and every array of ``arrays.npz`` (read without
        pickle) is checked against what ``save`` writes; anything else raises
        :class:`~fmood.errors.StoreCorruptError` naming the file and the field, or
        :class:`~fmood.errors.StoreVersionError` for a newer format.
        """
        path = Path(path)
        config_file, arrays_file = path / "detector.json", path / "arrays.npz"
        config = _read_config(config_file)
        arrays = _read_arrays(arrays_file)
        legacy = config["format_version"] < 3  # split conformal, one model, "scorer<i>." keys
        if legacy:
            config = {
                **config,
                "n_models": 1,
                "params": {"calibration": "split", **config["params"]},
            }
            arrays = {
                (f"model0.{k}" if k.startswith("scorer") else k): v for k, v in arrays.items()
            }
        try:
            params = construct(cls, "detector", "OODDetector", config["params"]).get_params(
                deep=False
            )
            check_params(cls, {k: v for k, v in params.items() if k != "scorers"})
            check_positive_int(params["domain_neighbors"], "domain_neighbors")
            _check_calibration_params(params, config["n_models"])
        except InvalidInputError as err:
            raise StoreCorruptError(f"{config_file}: params: {err}; {_FIX}") from None
        detector = cls(**{**params, "scorers": [s["name"] for s in config["scorers"]]})
        n_features = config["n_features_in"]
        try:
            _check_arrays(arrays, config)
            detector.models_ = [
                [
                    _restored_scorer(
                        _configured_scorer(spec, f"{config_file}: scorers[{i}]"),
                        arrays,
                        f"model{m}.scorer{i}.",
                        n_features,
                    )
                    for i, spec in enumerate(config["scorers"])
                ]
                for m in range(config["n_models"])
            ]
        except InvalidInputError as err:
            raise StoreCorruptError(f"{arrays_file}: {err}; {_FIX}") from None
        for i, scorer in enumerate(detector.models_[0]):
            try:  # parameters used only when scoring (batch sizes) are checked by scoring a row
                scorer.score_samples(np.zeros((1, n_features), dtype=np.float32))
            except InvalidInputError as err:
                raise StoreCorruptError(f"{config_file}: scorers[{i}]: {err}; {_FIX}") from None
        detector.scorer_names_ = _unique_names([_label(s) for s in detector.models_[0]])
        detector.calibration_scores_ = arrays["calibration_scores"].astype(np.float64)
        n_calibration = detector.calibration_scores_.shape[0]
        detector.calibration_folds_ = (
            np.zeros(n_calibration, dtype=np.int64)
            if legacy
            else arrays["calibration_folds"].astype(np.int64)
        )
        # Files before version 3 did not record groups: count every image as its own.
        detector.calibration_groups_ = n_calibration if legacy else config["calibration_groups"]
        detector.n_features_in_ = n_features
        detector.domains_ = None
        if config["domains"] is not None:
            detector.domains_ = np.asarray(config["domains"])
            detector.domain_reference_ = arrays["domain_reference"].astype(np.float32)
            detector.domain_reference_codes_ = arrays["domain_reference_codes"]
            detector.calibration_domain_codes_ = arrays["calibration_domain_codes"]
        detector._calibrate()
        return detector


def _build(spec: ScorerSpec) -> BaseScorer:
    """A fresh, unfitted scorer from a name, an instance (cloned) or (name, params)."""
    if isinstance(spec, BaseScorer):
        return clone(spec)
    if isinstance(spec, str):
        return get_scorer(spec)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return get_scorer(spec[0], **dict(spec[1]))
    raise InvalidInputError(
        f"a scorer must be a name, a scorer instance or (name, params), got {spec!r}"
    )


def _model_scores(model: list[BaseScorer], X: np.ndarray) -> np.ndarray:
    """One model's raw scores, shape (n_samples, n_scorers)."""
    return np.column_stack([scorer.score_samples(X) for scorer in model])


def _label(scorer: BaseScorer) -> str:
    """A scorer's column name: its ``label`` where it has one (a block scorer: "mahalanobis@block2")."""
    return getattr(scorer, "label", scorer.name)


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _leave_one_out_p(scores: np.ndarray) -> np.ndarray:
    """Conformal p-value of each calibration score against the other calibration scores.

    For score s_i among n: ``(1 + #{j != i : s_j >= s_i}) / n``, column by column.
    """
    n = scores.shape[0]
    sorted_cols = np.sort(scores, axis=0)
    at_or_above = np.column_stack(
        [
            n - np.searchsorted(sorted_cols[:, j], scores[:, j], side="left")
            for j in range(scores.shape[1])
        ]
    )
    return at_or_above / n


def _read_config(config_file: Path) -> dict[str, Any]:
    """``detector.json``, with the type of every field checked."""
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreCorruptError(f"{config_file}: missing; not a saved OODDetector") from None
    except (OSError, ValueError) as err:  # ValueError: bad JSON or bad UTF-8
        raise StoreCorruptError(f"{config_file}: not readable JSON ({err}); {_FIX}") from None
    if not isinstance(config, dict) or config.get("format") != "fmood.detector":
        raise StoreCorruptError(
            f'{config_file}: not a saved OODDetector (no "format": "fmood.detector"); '
            f"if it was one, {_FIX}"
        )

    def bad(field: str, expected: str) -> StoreCorruptError:
        found = repr(config.get(field, "(missing)"))[:80]
        return StoreCorruptError(
            f"{config_file}: field {field!r} must be {expected}, got {found}; {_FIX}"
        )

    def require(ok: bool, field: str, expected: str) -> None:
        if not ok:
            raise bad(field, expected)

    version = config.get("format_version")
    if not (_is_int(version) and version >= 1):
        raise bad("format_version", "an integer >= 1")
    if version > FORMAT_VERSION:
        raise StoreVersionError(
            f"{config_file}: format version {version} is newer than this fmood reads "
            f"({FORMAT_VERSION}); upgrade fmood"
        )
    require(isinstance(config.get("params"), dict), "params", "an object")
    scorers = config.get("scorers")
    require(
        isinstance(scorers, list)
        and len(scorers) > 0
        and all(
            isinstance(s, dict)
            and isinstance(s.get("name"), str)
            and isinstance(s.get("params"), dict)
            for s in scorers
        ),
        "scorers",
        'a non-empty list of {"name": str, "params": object}',
    )
    require(
        _is_int(config.get("n_features_in")) and config["n_features_in"] >= 1,
        "n_features_in",
        "an integer >= 1",
    )
    if version >= 3:
        require(
            _is_int(config.get("n_models")) and config["n_models"] >= 1,
            "n_models",
            "an integer >= 1",
        )
        require(
            _is_int(config.get("calibration_groups")) and config["calibration_groups"] >= 1,
            "calibration_groups",
            "an integer >= 1",
        )
    domains = config.get("domains", "(missing)")
    require(
        domains is None
        or (
            isinstance(domains, list)
            and len(domains) > 0
            and all(isinstance(d, str) for d in domains)
            and len(set(domains)) == len(domains)
        ),
        "domains",
        "null or a non-empty list of distinct strings",
    )
    return config


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_arrays(arrays_file: Path) -> dict[str, np.ndarray]:
    """Every array of ``arrays.npz``, read without pickle."""
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile)
    try:
        npz = np.load(arrays_file, allow_pickle=False)
    except FileNotFoundError:
        raise StoreCorruptError(f"{arrays_file}: missing; not a saved OODDetector") from None
    except unreadable as err:
        raise StoreCorruptError(
            f"{arrays_file}: not a readable .npz archive ({err}); {_FIX}"
        ) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise StoreCorruptError(f"{arrays_file}: a single .npy array, not an .npz archive; {_FIX}")
    try:
        with npz:
            return {key: npz[key] for key in npz.files}
    except unreadable as err:
        raise StoreCorruptError(
            f"{arrays_file}: not a readable .npz archive ({err}); {_FIX}"
        ) from None


def _check_calibration_params(params: dict[str, Any], n_models: int) -> None:
    """``calibration`` and ``n_folds`` valid, and consistent with the number of saved models."""
    if params["calibration"] not in CALIBRATIONS:
        raise InvalidInputError(
            f"calibration must be one of {', '.join(CALIBRATIONS)}, got {params['calibration']!r}"
        )
    if check_positive_int(params["n_folds"], "n_folds") < 2:
        raise InvalidInputError(f"n_folds must be >= 2, got {params['n_folds']}")
    most = params["n_folds"] if params["calibration"] != "split" and not params["refit"] else 1
    if not 1 <= n_models <= most:
        raise InvalidInputError(f"{n_models} saved models, expected 1 to {most} for these params")


def _arrays_spec(with_domains: bool) -> StateSpec:
    """The detector's own arrays in ``arrays.npz``."""
    spec: StateSpec = {
        "calibration_scores": ("f", ("calibration", "scorers")),
        "calibration_folds": ("iu", ("calibration",)),
    }
    if with_domains:
        spec.update(
            {
                "domain_reference": ("f", ("reference", FEATURES)),
                "domain_reference_codes": ("iu", ("reference",)),
                "calibration_domain_codes": ("iu", ("calibration",)),
            }
        )
    return spec


def _configured_scorer(spec: dict[str, Any], where: str) -> BaseScorer:
    """An unfitted scorer from its ``{"name", "params"}`` entry in ``detector.json``."""
    try:
        scorer = get_scorer(spec["name"], **spec["params"])
        check_params(type(scorer), spec["params"])
    except InvalidInputError as err:
        raise StoreCorruptError(f"{where}: {err}; {_FIX}") from None
    return scorer


def _check_arrays(arrays: dict[str, np.ndarray], config: dict[str, Any]) -> None:
    """The detector's own arrays against ``config``; no array that belongs to nobody."""
    n_scorers, domains, n_models = len(config["scorers"]), config["domains"], config["n_models"]
    params = config["params"]
    # The fold of each calibration score: 0 for split; one per model unless refit replaced them.
    n_folds = (
        1 if params.get("calibration") == "split" else None if params.get("refit") else n_models
    )
    own = {k: v for k, v in arrays.items() if not k.startswith("model")}
    if config["format_version"] < 3:  # no calibration_folds: every score went through model 0
        if "calibration_folds" in own:
            raise InvalidInputError("detector state: unexpected array(s) calibration_folds")
        own["calibration_folds"] = np.zeros(len(own.get("calibration_scores", [0])), dtype=np.int64)
    sizes = check_state(
        own,
        _arrays_spec(domains is not None),
        "detector",
        sizes={"scorers": n_scorers, FEATURES: config["n_features_in"]},
    )
    if sizes["calibration"] < 2:
        raise InvalidInputError("detector state: calibration_scores has fewer than 2 rows")
    prefixes = {f"model{m}.scorer{i}" for m in range(n_models) for i in range(n_scorers)}
    orphans = sorted(
        k
        for k in arrays
        if k.startswith("model")
        and (k.count(".") < 2 or ".".join(k.split(".", 2)[:2]) not in prefixes)
    )
    if orphans:
        raise InvalidInputError(f"detector state: unexpected array(s) {', '.join(orphans)}")
    models = own["calibration_folds"]
    used = np.unique(models)
    if n_folds is None:
        n_folds = used.size if 2 <= used.size <= params.get("n_folds", 0) else 0
    if used.size != n_folds or used[0] != 0 or used[-1] != n_folds - 1:
        raise InvalidInputError(
            f"detector state: calibration_folds must use every fold in [0, {max(n_folds, 1)}) and no other"
        )
    for key in ("domain_reference_codes", "calibration_domain_codes") if domains else ():
        codes = arrays[key]
        if codes.min() < 0 or codes.max() >= len(domains):
            raise InvalidInputError(
                f"detector state: {key} holds codes outside [0, {len(domains)})"
            )


def _restored_scorer(
    scorer: BaseScorer, arrays: dict[str, np.ndarray], prefix: str, n_features: int
) -> BaseScorer:
    """``scorer`` with its state restored from the arrays under ``prefix``."""
    state = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    try:
        scorer.set_state(state)
    except InvalidInputError as err:
        raise InvalidInputError(f"{prefix.rstrip('.')}: {err}") from None
    if scorer.n_features_in_ != n_features:
        raise InvalidInputError(
            f"{prefix}n_features_in_ is {scorer.n_features_in_}, but detector.json says {n_features}"
        )
    return scorer


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # A file object, not a name: np.savez would append ".npz" to the temporary name.
    with open(path, "wb") as f:
        # numpy's stubs match **arrays against savez's allow_pickle; no key is named so.
        np.savez(f, **arrays)  # type: ignore[arg-type]
