import numpy as np
import pytest

from fmood.calibration.conformal import ConformalCalibrator, CrossConformalCalibrator
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
    np.testing.assert_allclose(
        ConformalCalibrator(interpolate=False).fit(cal).pvalues(between), 4 / 101
    )
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


def test_cross_conformal_with_one_fold_is_split_conformal():
    rng = np.random.default_rng(5)
    cal, test = rng.standard_normal(200), np.r_[rng.standard_normal(50), [4.0, 8.0]]
    one = CrossConformalCalibrator().fit(cal, np.zeros(200, dtype=int), 1)
    split = ConformalCalibrator().fit(cal)
    np.testing.assert_allclose(one.log_pvalues(test[:, None]), split.log_pvalues(test))


def test_cross_conformal_pools_the_counts_of_every_fold():
    """p = (1 + sum_k #{fold k's scores >= model k's score}) / (n + 1), Vovk's cross-conformal."""
    rng = np.random.default_rng(6)
    folds = np.repeat([0, 1, 2], [30, 40, 50])
    cal = rng.standard_normal(120) + folds * 0.5  # each fold's model scores on its own scale
    calibrator = CrossConformalCalibrator().fit(cal, folds, 3)
    # At calibration scores the interpolated count is the plain count.
    test = np.column_stack([rng.choice(cal[folds == k], 25) for k in range(3)])
    expected = [
        (1 + sum(np.sum(cal[folds == k] >= row[k]) for k in range(3))) / 121 for row in test
    ]
    np.testing.assert_allclose(np.exp(calibrator.log_pvalues(test)), expected)
    # Between them it is never below the pooled count and less than one step per fold above it.
    test = rng.uniform(-1, 2, size=(200, 3))
    plain = [(1 + sum(np.sum(cal[folds == k] >= row[k]) for k in range(3))) / 121 for row in test]
    inside = (test <= np.array([cal[folds == k].max() for k in range(3)])).all(axis=1)
    p = np.exp(calibrator.log_pvalues(test))
    assert np.all(p[inside] >= np.asarray(plain)[inside] - 1e-12)
    assert np.all(p[inside] - np.asarray(plain)[inside] < 3 / 121)


def test_cross_conformal_tail_ranks_beyond_every_fold():
    rng = np.random.default_rng(7)
    folds = np.repeat([0, 1], 300)
    calibrator = CrossConformalCalibrator().fit(rng.exponential(size=600), folds, 2)
    top = 20.0 + np.array([0.0, 1.0, 5.0, 50.0, 5000.0])
    log_p = calibrator.log_pvalues(np.column_stack([top, top]))
    assert np.all(log_p < np.log(1 / 601)) and np.all(np.diff(log_p) < 0)
    # A fold may hold no calibration score (a domain absent from it): it adds nothing.
    only_first = CrossConformalCalibrator().fit(
        rng.exponential(size=100), np.zeros(100, dtype=int), 2
    )
    assert np.isfinite(only_first.log_pvalues(np.ones((3, 2)))).all()


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_cross_conformal_is_valid_for_exchangeable_data(alpha):
    """Scores of K different models (means shifted per fold) stay calibrated once pooled."""
    rng = np.random.default_rng(8)
    hits = []
    folds = np.repeat(np.arange(5), 20)
    for _ in range(300):
        shift = rng.normal(scale=0.3, size=5)
        cal = rng.standard_normal(100) + shift[folds]
        test = rng.standard_normal((40, 1)) + shift
        hits.append(np.mean(CrossConformalCalibrator().fit(cal, folds, 5).pvalues(test) <= alpha))
    se = np.std(hits) / np.sqrt(len(hits))
    assert alpha - 0.02 - 3 * se <= np.mean(hits) <= alpha + 3 * se


def test_cross_conformal_bad_input():
    with pytest.raises(InvalidInputError, match="one length"):
        CrossConformalCalibrator().fit(np.zeros(5), np.zeros(4, dtype=int), 2)
    with pytest.raises(InvalidInputError, match=r"\[0, 2\)"):
        CrossConformalCalibrator().fit(np.zeros(5), np.full(5, 2), 2)
    with pytest.raises(InvalidInputError, match="shape"):
        fitted = CrossConformalCalibrator().fit(np.arange(5.0), np.zeros(5, dtype=int), 2)
        fitted.log_pvalues(np.zeros((3, 1)))
