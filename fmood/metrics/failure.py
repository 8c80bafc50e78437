"""Failure-prediction (selective classification) metrics: risk-coverage curve, AURC, AUGRC.

A selective classifier answers the samples it is most confident about and defers the rest.
``uncertainty`` ranks the samples (higher = more likely to fail, the fmood convention) and
``errors`` marks the ones the model got wrong. Accepting every sample with uncertainty <= t
gives one point of the risk-coverage curve per distinct threshold t.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from fmood.errors import InvalidInputError
from fmood.metrics._checks import check_binary, check_same_length, check_scores

Risk = Literal["selective", "generalized"]


def risk_coverage_curve(
    uncertainty: ArrayLike, errors: ArrayLike, *, risk: Risk = "selective"
) -> tuple[np.ndarray, np.ndarray]:
    """Risk of the accepted samples at each coverage, most confident samples accepted first.

    Parameters
    ----------
    uncertainty : array-like of shape (n_samples,)
        Higher = more likely to fail.
    errors : array-like of shape (n_samples,)
        1 (or True) where the model's prediction was wrong, 0 where it was right.
    risk : {"selective", "generalized"}
        ``"selective"``: error rate among the accepted samples (Geifman & El-Yaniv, NeurIPS
        2017). ``"generalized"``: fraction of *all* samples that are accepted and wrong
        (Traub et al., NeurIPS 2024).

    Returns
    -------
    coverage : ndarray of shape (n_thresholds + 1,)
        Fraction of samples accepted, increasing, from 0 to 1.
    risk : ndarray of shape (n_thresholds + 1,)
        Risk at each coverage.

    Notes
    -----
    Samples with equal uncertainty cannot be told apart, so they are accepted together: the
    curve has one point per distinct uncertainty value, not per sample, and the result does not
    depend on the order of tied samples. This is fd-shifts' ``RiskCoverageStats`` (Jaeger et al.,
    ICLR 2023; Traub et al., 2024). As there, the curve is closed at coverage 0 with the
    selective risk of the smallest accepted set (it is undefined on an empty set) or with
    generalized risk 0, so the trapezoidal area under the curve is :func:`aurc` or :func:`augrc`.
    """
    if risk not in ("selective", "generalized"):
        raise InvalidInputError(f"risk must be 'selective' or 'generalized', got {risk!r}")
    u = check_scores(uncertainty, "uncertainty")
    wrong = check_binary(errors, "errors")
    check_same_length(u, wrong, "uncertainty", "errors")
    n = u.shape[0]

    order = np.argsort(u, kind="stable")
    u_sorted = u[order]
    # the last sample of each run of equal uncertainty closes one threshold
    closes = np.r_[u_sorted[1:] != u_sorted[:-1], True]
    accepted = np.flatnonzero(closes) + 1
    accepted_wrong = np.cumsum(wrong[order])[closes]

    coverage = np.r_[0.0, accepted / n]
    if risk == "selective":
        selective = accepted_wrong / accepted
        return coverage, np.r_[selective[0], selective]
    return coverage, np.r_[0.0, accepted_wrong / n]


def _trapezoid(x: np.ndarray, y: np.ndarray) -> float:
    # by hand: numpy 2.4 removed np.trapz, and np.trapezoid is missing before numpy 2.0
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2)


def aurc(uncertainty: ArrayLike, errors: ArrayLike) -> float:
    """Area under the (selective) risk-coverage curve.

    Geifman & El-Yaniv, "Selective Classification for Deep Neural Networks", NeurIPS 2017;
    computed as in Jaeger et al., "A Call to Reflect on Evaluation Practices for Failure
    Detection in Image Classification", ICLR 2023 (fd-shifts): trapezoidal rule over the
    points of :func:`risk_coverage_curve`, ties in ``uncertainty`` accepted together.

    Parameters
    ----------
    uncertainty : array-like of shape (n_samples,)
        Higher = more likely to fail.
    errors : array-like of shape (n_samples,)
        1 (or True) where the model's prediction was wrong.

    Returns
    -------
    float
        In [0, 1]; lower is better. A random ranking gives about the error rate r; the best
        ranking of the same errors gives about r + (1 - r) ln(1 - r) (Geifman et al., ICLR
        2019). With no errors it is 0, with only errors 1.
    """
    coverage, risk = risk_coverage_curve(uncertainty, errors, risk="selective")
    return _trapezoid(coverage, risk)


def augrc(uncertainty: ArrayLike, errors: ArrayLike) -> float:
    """Area under the generalized risk-coverage curve.

    Traub et al., "Overcoming Common Flaws in the Evaluation of Selective Classification
    Systems", NeurIPS 2024. The generalized risk at a coverage is the fraction of all samples
    that are accepted *and* wrong, so, unlike AURC, low-coverage points weigh little and the
    metric is the average risk of silent failure over all thresholds.

    Parameters
    ----------
    uncertainty : array-like of shape (n_samples,)
        Higher = more likely to fail.
    errors : array-like of shape (n_samples,)
        1 (or True) where the model's prediction was wrong.

    Returns
    -------
    float
        In [0, 0.5]; lower is better. A random ranking gives about r / 2 for error rate r, the
        best ranking exactly r**2 / 2. Trapezoidal rule over :func:`risk_coverage_curve` with
        ``risk="generalized"``, as fd-shifts.
    """
    coverage, risk = risk_coverage_curve(uncertainty, errors, risk="generalized")
    return _trapezoid(coverage, risk)
