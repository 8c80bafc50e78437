"""Spearman correlation of scores with shift severity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, rankdata, spearmanr

from fmood.errors import InvalidInputError
from fmood.metrics import severity_spearman


def test_matches_pearson_on_average_ranks_with_ties():
    rng = np.random.default_rng(0)
    severity = np.repeat(np.arange(6), 20)  # levels 0..5, heavily tied
    scores = severity + rng.normal(0.0, 2.0, size=severity.size)
    rho, p_value = severity_spearman(scores, severity)
    assert rho == pytest.approx(pearsonr(rankdata(scores), rankdata(severity))[0], abs=1e-12)
    assert p_value == pytest.approx(spearmanr(scores, severity).pvalue, rel=1e-12)
    assert type(rho) is float and type(p_value) is float
    assert rho > 0.5 and p_value < 1e-6


def test_monotone_score_gives_one():
    rho, _ = severity_spearman([0.1, 0.5, 0.9, 4.0], [0, 1, 2, 3])
    assert rho == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("scores", "severity", "message"),
    [
        ([1.0, 2.0, 3.0], [2, 2, 2], "severity is constant"),
        ([0.5, 0.5, 0.5], [0, 1, 2], "scores is constant"),
        ([1.0, 2.0], [0, 1], "at least 3"),
        ([1.0, 2.0, 3.0, 4.0], [0, 1, 2], "one entry per sample"),
        ([1.0, np.nan, 3.0], [0, 1, 2], "NaN or infinite"),
    ],
)
def test_bad_inputs_raise(scores, severity, message):
    with pytest.raises(InvalidInputError, match=message):
        severity_spearman(scores, severity)
