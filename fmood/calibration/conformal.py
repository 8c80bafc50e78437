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
        self, tail_fraction: float = 0.1, min_tail: int = 20, tail: bool = True,
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
        check_is_fitted(self, "calibration_scores_")
        scores = np.asarray(scores, dtype=np.float64)
        if np.isnan(scores).any():
            raise InvalidInputError("scores contain NaN; a NaN has no p-value")
        cal = self.calibration_scores_
        n = cal.size
        below = np.searchsorted(cal, scores, side="left")  # calibration scores < s
        steps = (n - below).astype(np.float64)  # the conformal p is (1 + steps) / (n + 1)
        if self.interpolate:
            inside = (below > 0) & (below < n)
            low, high = cal[below[inside] - 1], cal[below[inside]]
            # From the step at `low` (one more score >= s) down to the step at `high`.
            steps[inside] += (high - scores[inside]) / (high - low)
        log_p = np.log1p(steps) - np.log(n + 1.0)
        beyond = scores > cal[-1]
        if self.tail and beyond.any():
            log_ratio = stats.genpareto.logsf(
                scores[beyond] - self.threshold_, self.tail_shape_, scale=self.tail_scale_
            ) - stats.genpareto.logsf(cal[-1] - self.threshold_, self.tail_shape_, scale=self.tail_scale_)
            log_p[beyond] = -np.log(n + 1.0) + log_ratio
        return log_p

    def pvalues(self, scores: ArrayLike) -> np.ndarray:
        """p-value of each score, shape (n_samples,); small = unlike the calibration set."""
        return np.exp(self.log_pvalues(scores))
