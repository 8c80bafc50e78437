"""Conformal p-values from calibration scores, with a fitted tail beyond their range."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from fmood._validation import check_is_fitted
from fmood.errors import InvalidInputError


class ConformalCalibrator:
    """Turn raw scores into p-values against held-out in-distribution calibration scores.

    Inside the calibration range the p-value is the split-conformal one,
    ``p(s) = (1 + #{calibration >= s}) / (n + 1)``, valid for any exchangeable
    in-distribution sample: ``P(p <= alpha) <= alpha``.

    Plain conformal p-values stop at ``1 / (n + 1)``: every score above the largest calibration
    score would tie, and triage would lose its order. Above the calibration maximum the
    p-value therefore continues as ``p(s) = 1/(n+1) * S(s) / S(s_max)``, where ``S`` is the
    survival function of a generalised Pareto distribution fitted to the top ``tail_fraction``
    of the calibration scores (peaks over threshold; Pickands 1975, Balkema & de Haan 1974).
    That part is a model-based extrapolation, not a guarantee: it reads "a reference image
    would score this high with about this probability if the reference tail keeps its fitted
    shape". The shape is constrained to ``xi >= 0`` (exponential or heavier), which never
    claims more than an exponential tail would, and keeps the p-value strictly decreasing so
    that ranking never stops.

    Inside the range, the step function also ties every score between two neighbouring
    calibration scores; where the calibration set holds a few extreme images, one step can
    span most out-of-distribution scores. With ``interpolate`` the p-value falls linearly
    from one step's value to the next between neighbouring calibration scores: it is never
    below the conformal p-value (so ``P(p <= alpha) <= alpha`` still holds), exceeds it by
    less than ``1 / (n + 1)``, equals it at every calibration score, and keeps ranking inside
    the range. Tied calibration scores and the calibration maximum remain steps.

    Parameters
    ----------
    tail_fraction : float
        Share of calibration scores used to fit the tail.
    min_tail : int
        Fewest exceedances for a GPD fit; with fewer the shape is fixed at 0 (exponential).
    tail : bool
        False gives plain conformal p-values (ties at ``1/(n+1)`` above the range).
    interpolate : bool
        Interpolate between neighbouring calibration scores (see above); False gives the
        split-conformal step function.
    """

    def __init__(
        self,
        tail_fraction: float = 0.1,
        min_tail: int = 20,
        tail: bool = True,
        interpolate: bool = True,
    ) -> None:
        self.tail_fraction = tail_fraction
        self.min_tail = min_tail
        self.tail = tail
        self.interpolate = interpolate

    def fit(self, calibration_scores: ArrayLike) -> ConformalCalibrator:
        """Fit on the scores of in-distribution calibration samples, shape (n_calibration,)."""
        scores = np.asarray(calibration_scores, dtype=np.float64)
        if scores.ndim != 1 or scores.size == 0:
            raise InvalidInputError(
                f"calibration scores must be a non-empty 1-D array, got shape {scores.shape}"
            )
        if not np.isfinite(scores).all():
            raise InvalidInputError("calibration scores contain NaN or infinite values")
        self.calibration_scores_ = np.sort(scores)
        n_tail = max(int(np.ceil(self.tail_fraction * scores.size)), 2)
        n_tail = min(n_tail, scores.size)
        top = self.calibration_scores_[-n_tail:]
        self.threshold_ = float(top[0]) if n_tail < scores.size else float(top[0]) - 1e-12
        exceed = top - self.threshold_
        self.tail_shape_, self.tail_scale_ = self._fit_tail(exceed)
        return self

    def _fit_tail(self, exceed: np.ndarray) -> tuple[float, float]:
        spread = float(np.mean(exceed))
        # Ties at the top (duplicates) give no spread: borrow the spread of all calibration
        # scores, or a nominal 1e-3 of their magnitude when every score is the same.
        overall = float(np.std(self.calibration_scores_))
        fallback_scale = spread or overall or 1e-3 * max(1.0, abs(self.threshold_))
        if exceed.size < self.min_tail or spread <= 0:
            return 0.0, fallback_scale
        shape, _, scale = stats.genpareto.fit(exceed, floc=0.0)
        if not np.isfinite(shape) or not np.isfinite(scale) or shape < 0 or scale <= 0:
            return 0.0, fallback_scale
        return float(shape), float(scale)

    def log_pvalues(self, scores: ArrayLike) -> np.ndarray:
        """Natural log of each score's p-value, shape (n_samples,).

        Kept in log space so that images far beyond the calibration range keep distinct
        values where the p-value itself would underflow to 0.
        """
        steps, log_tail = self.counts(scores)
        n = self.calibration_scores_.size
        beyond = steps == 0
        log_p = np.log1p(steps) - np.log(n + 1.0)
        log_p[beyond] = log_tail[beyond] - np.log(n + 1.0)
        return log_p

    def counts(self, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """The two parts of each score's p-value, shapes (n_samples,) and (n_samples,).

        ``steps``: the (interpolated) count of calibration scores at or above the score, so
        that the p-value is ``(1 + steps) / (n + 1)`` while ``steps > 0``. ``log_tail``: the
        log of the fitted tail's survival ratio ``S(s) / S(s_max)`` where the score is above
        the calibration maximum (``steps == 0``; the p-value is then ``ratio / (n + 1)``),
        and 0 elsewhere or without ``tail``.
        """
        check_is_fitted(self, "calibration_scores_")
        scores = np.asarray(scores, dtype=np.float64)
        if np.isnan(scores).any():
            raise InvalidInputError("scores contain NaN; a NaN has no p-value")
        cal = self.calibration_scores_
        n = cal.size
        below = np.searchsorted(cal, scores, side="left")  # calibration scores < s
        steps = (n - below).astype(np.float64)
        if self.interpolate:
            inside = (below > 0) & (below < n)
            low, high = cal[below[inside] - 1], cal[below[inside]]
            # From the step at `low` (one more score >= s) down to the step at `high`.
            steps[inside] += (high - scores[inside]) / (high - low)
        log_tail = self.log_tail_ratio(scores, cal[-1]) if self.tail else np.zeros_like(steps)
        return steps, log_tail

    def log_tail_ratio(self, scores: np.ndarray, top: float) -> np.ndarray:
        """``log S(s) / S(top)`` of the fitted tail where ``s > top``, else 0; shape of ``scores``."""
        out = np.zeros(scores.shape)
        beyond = scores > top
        if beyond.any():
            shape, scale = self.tail_shape_, self.tail_scale_
            out[beyond] = stats.genpareto.logsf(
                scores[beyond] - self.threshold_, shape, scale=scale
            ) - (stats.genpareto.logsf(top - self.threshold_, shape, scale=scale))
        return out

    def pvalues(self, scores: ArrayLike) -> np.ndarray:
        """p-value of each score, shape (n_samples,); small = unlike the calibration set."""
        return np.exp(self.log_pvalues(scores))


class CrossConformalCalibrator:
    """p-values against out-of-fold calibration scores of K models (cross-conformal / CV+).

    The reference is cut into K folds; model k is fitted without fold k and scores it, so
    every reference image has one out-of-fold score. A new image is scored by every model,
    and its p-value pools the counts over folds (Vovk 2015; the CV+ form of Barber, Candes,
    Ramdas & Tibshirani 2021)::

        p(x) = (1 + sum_k #{i in fold k : s_k(X_i) >= s_k(x)}) / (n + 1)

    with each fold's count interpolated between neighbouring scores as in
    :class:`ConformalCalibrator` (never below the plain count). A fold whose largest score the
    image exceeds adds ``1/K`` times its tail ratio ``S(s_k(x)) / S(max_k)`` instead of its
    count and share of the 1, so the p-value keeps ranking there; beyond every fold's maximum
    it is ``mean_k S(s_k(x)) / S(max_k) / (n + 1)`` (a model-based extrapolation, as in
    :class:`ConformalCalibrator`; the arithmetic mean extends the pooled count). The folds'
    models are exchangeable, so one tail ``S`` is fitted to the pooled out-of-fold scores (K
    times the exceedances of one fold). With one fold this is exactly
    :class:`ConformalCalibrator`.

    Validity (exchangeable reference and new image): the p-value is never below the plain
    CV+ p-value minus ``1 / (n + 1)``, and for the plain one
    ``P(p <= alpha) <= 2 alpha + min(2 (1 - 1/K) / (n/K + 1), (1 - K/n) / (K + 1))``
    (Barber et al. 2021, Theorem 4 for K-fold CV+, read for the test point's own p-value: the
    image is outside the CV+ set at level alpha exactly when its p-value is <= alpha; folds of
    equal size n/K). The factor 2 is a worst case; empirically (Barber et al. 2021, section
    6; Vovk 2015) and on fmood's benchmark the rate stays near ``alpha``. With groups,
    exchangeability holds between groups, not images, so the bound is heuristic there.
    Split-conformal p-values are valid at ``alpha`` exactly and PRDS, so Benjamini-Hochberg
    controls the FDR over them (Bates et al. 2023); for cross-conformal p-values neither is
    proven.

    Parameters
    ----------
    tail : bool
        Extend p-values beyond every fold's calibration range with the fitted tails.
    """

    def __init__(self, tail: bool = True) -> None:
        self.tail = tail

    def fit(
        self, calibration_scores: ArrayLike, folds: ArrayLike, n_folds: int
    ) -> CrossConformalCalibrator:
        """Fit on out-of-fold scores, shape (n_calibration,), and their folds in [0, n_folds).

        A fold without calibration scores (a domain absent from it) contributes nothing.
        """
        scores = np.asarray(calibration_scores, dtype=np.float64)
        folds = np.asarray(folds)
        if scores.ndim != 1 or folds.shape != scores.shape or scores.size == 0:
            raise InvalidInputError(
                f"calibration scores and folds must be non-empty 1-D arrays of one length, got "
                f"shapes {scores.shape} and {folds.shape}"
            )
        if folds.min() < 0 or folds.max() >= n_folds:
            raise InvalidInputError(f"folds must lie in [0, {n_folds})")
        self.n_folds_ = int(n_folds)
        self.n_calibration_ = scores.size
        self.calibrators_ = {
            int(k): ConformalCalibrator(tail=self.tail).fit(scores[folds == k])
            for k in np.unique(folds)
        }
        self.pooled_ = ConformalCalibrator(tail=self.tail).fit(scores)
        return self

    def log_pvalues(self, scores: ArrayLike) -> np.ndarray:
        """Natural log of the p-value of each row, shape (n_samples,).

        Parameters
        ----------
        scores : array-like of shape (n_samples, n_folds)
            Column k: the score given by the model fitted without fold k.
        """
        check_is_fitted(self, "calibrators_")
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 2 or scores.shape[1] != self.n_folds_:
            raise InvalidInputError(
                f"scores must have shape (n_samples, {self.n_folds_}), got {scores.shape}"
            )
        if len(self.calibrators_) == 1:  # all scores in one fold: split conformal
            ((k, only),) = self.calibrators_.items()
            return only.log_pvalues(scores[:, k])
        # Fold k adds its count plus 1/K while the score is inside its range, its tail ratio
        # over K beyond it: (1 + sum of counts) inside every range, mean of ratios beyond all.
        log_terms = []
        for k, cal in self.calibrators_.items():
            steps = cal.counts(scores[:, k])[0]
            beyond = np.log(1.0 / len(self.calibrators_)) + (
                self.pooled_.log_tail_ratio(scores[:, k], cal.calibration_scores_[-1])
                if self.tail
                else 0.0
            )
            log_terms.append(
                np.where(steps > 0, np.log(steps + 1.0 / len(self.calibrators_)), beyond)
            )
        return np.logaddexp.reduce(log_terms, axis=0) - np.log(self.n_calibration_ + 1.0)

    def pvalues(self, scores: ArrayLike) -> np.ndarray:
        """p-value of each row of ``scores`` (shape (n_samples, n_folds)), shape (n_samples,)."""
        return np.exp(self.log_pvalues(scores))
