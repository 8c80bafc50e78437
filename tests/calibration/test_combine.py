import numpy as np
import pytest
from scipy import stats

from fmood.calibration.combine import benjamini_hochberg, cauchy_pvalue, cauchy_statistic
from fmood.errors import InvalidInputError


def combined_p(p):
    return cauchy_pvalue(np.sinh(cauchy_statistic(np.log(p))))


def test_one_test_round_trips():
    p = np.array([[0.5], [0.2], [1e-3], [1e-20], [1e-200]])
    np.testing.assert_allclose(combined_p(p), p[:, 0], rtol=1e-9)


def test_matches_the_definition_and_scipy_cauchy_tail():
    p = np.random.default_rng(0).uniform(0.001, 0.999, size=(100, 3))
    t = np.tan((0.5 - p) * np.pi).mean(axis=1)
    np.testing.assert_allclose(np.sinh(cauchy_statistic(np.log(p))), t, rtol=1e-9)
    np.testing.assert_allclose(cauchy_pvalue(t), stats.cauchy.sf(t), rtol=1e-9)


def test_valid_under_perfect_dependence():
    p = np.random.default_rng(1).uniform(1e-6, 0.999, size=10000)
    np.testing.assert_allclose(combined_p(np.column_stack([p, p, p])), p, rtol=1e-6)


def test_order_kept_far_below_the_smallest_double():
    stat = cauchy_statistic(np.array([[-1000.0, -1.0], [-2000.0, -1.0], [-2000.0, -3000.0]]))
    assert np.all(np.diff(stat) > 0)
    # asinh(T) ~ log(2T) with T = exp(-log p) / (pi m)
    assert stat[0] == pytest.approx(np.log(2) + 1000 - np.log(np.pi) - np.log(2))


def test_a_typical_verdict_cannot_cancel_strong_evidence():
    assert combined_p(np.array([[1.0, 1e-8]]))[0] < 1e-7


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_benjamini_hochberg_matches_scipy(alpha):
    rng = np.random.default_rng(2)
    p = np.r_[rng.uniform(size=300), rng.uniform(0, 1e-3, size=30)]
    expected = stats.false_discovery_control(p) <= alpha
    np.testing.assert_array_equal(benjamini_hochberg(p, alpha), expected)


def test_bad_input():
    with pytest.raises(InvalidInputError):
        cauchy_statistic([[0.5]])  # a positive log p-value
    with pytest.raises(InvalidInputError):
        cauchy_statistic(np.zeros((3, 0)))
    with pytest.raises(InvalidInputError, match="alpha"):
        benjamini_hochberg([0.1], alpha=1.5)
    assert benjamini_hochberg(np.array([]), 0.05).shape == (0,)
