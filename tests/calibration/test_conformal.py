import numpy as np
import pytest

from fmood.calibration.conformal import ConformalCalibrator
from fmood.errors import InvalidInputError


def brute_force_p(cal, s):
    return np.array([(1 + np.sum(cal >= x)) / (len(cal) + 1) for x in s])


def test_inside_the_range_it_is_the_conformal_p_value():
    cal = np.random.default_rng(0).standard_normal(300)
    test = np.linspace(-3, cal.max(), 50)
    plain = ConformalCalibrator(interpolate=False).fit(cal)
    np.testing.assert_allclose(plain.pvalues(test), brute_force_p(cal, test))


def test_interpolation_stays_within_one_step_above_the_conformal_p_value():
    cal = np.random.default_rng(0).standard_normal(300)
    test = np.linspace(cal.min() - 1, cal.max(), 2000)
    p = ConformalCalibrator().fit(cal).pvalues(test)
    conformal = brute_force_p(cal, test)
    assert np.all(p >= conformal - 1e-12) and np.all(p - conformal < 1 / 301 + 1e-12)
    inside = test > cal.min()
    assert np.all(np.diff(p[inside]) < 0)  # strictly decreasing: no ties inside the range
    np.testing.assert_allclose(ConformalCalibrator().fit(cal).pvalues(cal), brute_force_p(cal, cal))


def test_interpolation_ranks_scores_between_two_extreme_calibration_scores():
    # 4 extreme calibration images: the conformal p-value is one step from 50 to 1000.
    cal = np.r_[np.linspace(0, 1, 96), [50.0, 1000.0, 1100.0, 1200.0]]
    between = np.array([60.0, 300.0, 900.0])
    np.testing.assert_allclose(ConformalCalibrator(interpolate=False).fit(cal).pvalues(between), 4 / 101)
    p = ConformalCalibrator().fit(cal).pvalues(between)
    assert np.all(np.diff(p) < 0) and np.all((p > 4 / 101) & (p < 5 / 101))


def test_ties_count_as_at_or_above():
    cal = np.array([1.0, 2.0, 2.0, 3.0])
    np.testing.assert_allclose(ConformalCalibrator().fit(cal).pvalues([2.0]), [(1 + 3) / 5])


def test_tail_keeps_ranking_beyond_the_range():
    cal = np.random.default_rng(1).exponential(size=5000)
    calibrator = ConformalCalibrator().fit(cal)
    beyond = cal.max() + np.array([1e-9, 0.5, 1.0, 5.0, 50.0])
    p = calibrator.pvalues(beyond)
    assert p[0] == pytest.approx(1 / 5001)  # the tail starts at 1/(n+1) just above the maximum
    assert np.all(np.diff(p) < 0)
    # Exponential reference: GPD shape near 0, so each extra unit divides p by about e.
    assert np.log(p[2] / p[3]) == pytest.approx(4.0, abs=1.0)
    plain = ConformalCalibrator(tail=False).fit(cal).pvalues(beyond)
    np.testing.assert_allclose(plain, 1 / 5001)


def test_heavy_tail_shape_is_estimated():
    cal = np.random.default_rng(2).pareto(2.0, size=5000)  # GPD shape 0.5
    assert ConformalCalibrator().fit(cal).tail_shape_ == pytest.approx(0.5, abs=0.2)


def test_bounded_tail_is_clamped_to_exponential():
    cal = np.random.default_rng(3).uniform(size=2000)  # GPD shape -1
    calibrator = ConformalCalibrator().fit(cal)
    assert calibrator.tail_shape_ == 0.0
    assert np.all(np.diff(calibrator.pvalues([1.1, 1.2, 5.0])) < 0)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.2])
def test_valid_for_exchangeable_data(alpha):
    rng = np.random.default_rng(4)
    hits = []
    for _ in range(400):
        cal, test = rng.standard_normal(99), rng.standard_normal(50)
        hits.append(np.mean(ConformalCalibrator().fit(cal).pvalues(test) <= alpha))
    # Marginal rate is floor(alpha * 100) / 100 <= alpha; allow 3 standard errors.
    assert np.mean(hits) <= alpha + 3 * np.std(hits) / np.sqrt(len(hits))
    assert np.mean(hits) >= alpha - 0.01 - 3 * np.std(hits) / np.sqrt(len(hits))


def test_duplicates_in_calibration():
    p = ConformalCalibrator().fit(np.ones(50)).pvalues([1.0, 1.01, 1.02])
    assert p[0] == 1.0 and p[1] > p[2] > 0


def test_bad_calibration_scores():
    with pytest.raises(InvalidInputError, match="non-empty"):
        ConformalCalibrator().fit([])
    with pytest.raises(InvalidInputError, match="NaN"):
        ConformalCalibrator().fit([1.0, np.nan])


def test_nan_scores_are_refused():
    with pytest.raises(InvalidInputError, match="NaN"):
        ConformalCalibrator().fit(np.arange(10.0)).pvalues([1.0, np.nan])
