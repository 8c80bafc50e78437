import numpy as np
import pytest
from scipy import stats

from fmood.calibration.combine import benjamini_hochberg, cauchy_pvalue, cauchy_statistic
from fmood.errors import InvalidInputError


def test_one_test_round_trips():
    p = np.array([[0.5], [0.2], [1e-3], [1e-20], [1e-200]])
    np.testing.assert_allclose(cauchy_pvalue(cauchy_statistic(p)), p[:, 0], rtol=1e-9)


def test_matches_scipy_cauchy_tail():
    p = np.random.default_rng(0).uniform(size=(100, 3))
    t = cauchy_statistic(p)
    np.testing.assert_allclose(t, np.tan((0.5 - p) * np.pi).mean(axis=1))
    np.testing.assert_allclose(cauchy_pvalue(t), stats.cauchy.sf(t), rtol=1e-9)


def test_valid_under_perfect_dependence():
    p = np.random.default_rng(1).uniform(size=10000)
    combined = cauchy_pvalue(cauchy_statistic(np.column_stack([p, p, p])))
    np.testing.assert_allclose(combined, p, rtol=1e-8)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_benjamini_hochberg_matches_scipy(alpha):
    rng = np.random.default_rng(2)
    p = np.r_[rng.uniform(size=300), rng.uniform(0, 1e-3, size=30)]
    expected = stats.false_discovery_control(p) <= alpha
    np.testing.assert_array_equal(benjamini_hochberg(p, alpha), expected)


def test_bad_input():
    with pytest.raises(InvalidInputError):
        cauchy_statistic([[0.0]])
    with pytest.raises(InvalidInputError, match="alpha"):
        benjamini_hochberg([0.1], alpha=1.5)
    assert benjamini_hochberg(np.array([]), 0.05).shape == (0,)
