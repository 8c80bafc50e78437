"""Agreement of a score with graded shift severity (e.g. blur or noise levels 0..5)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import spearmanr

from fmood.errors import InvalidInputError
from fmood.metrics._checks import check_same_length, check_scores

# two samples always have rank correlation +-1 and leave no degree of freedom for a p-value
_MIN_SAMPLES = 3


def severity_spearman(scores: ArrayLike, severity: ArrayLike) -> tuple[float, float]:
    """Spearman rank correlation of a score with the severity of the shift applied.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        OOD scores, higher = more OOD.
    severity : array-like of shape (n_samples,)
        Graded severity of each sample's shift (0 for none); ties are expected and get
        average ranks.

    Returns
    -------
    rho : float
        In [-1, 1]; near 1 when the score grows with severity.
    p_value : float
        Two-sided p-value of ``scipy.stats.spearmanr`` for rho = 0 (a t-distribution
        approximation, so only rough for a handful of samples).

    Raises
    ------
    InvalidInputError
        If either input is constant: the correlation is then undefined, and rather than
        return NaN (scipy's answer) this names the input so that a single severity level or a
        collapsed score does not pass unnoticed into a table. Also for fewer than 3 samples,
        non-finite values or a length mismatch.
    """
    s = check_scores(scores, "scores", min_samples=_MIN_SAMPLES)
    sev = check_scores(severity, "severity", min_samples=_MIN_SAMPLES)
    check_same_length(s, sev, "scores", "severity")
    for name, values in (("scores", s), ("severity", sev)):
        if np.all(values == values[0]):
            raise InvalidInputError(
                f"{name} is constant ({values[0]!r} for all {values.shape[0]} samples), so its "
                "rank correlation is undefined; use samples of at least two severity levels"
            )
    result = spearmanr(s, sev)
    return float(result.statistic), float(result.pvalue)
