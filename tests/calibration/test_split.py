import numpy as np
import pytest

from fmood.calibration.split import calibration_folds, calibration_split
from fmood.errors import InvalidInputError


def test_groups_never_cross_the_split():
    groups = np.repeat(np.arange(40), 5)
    fit_idx, cal_idx = calibration_split(200, groups=groups, calibration_fraction=0.25)
    assert not set(groups[fit_idx]) & set(groups[cal_idx])
    assert len(np.unique(groups[cal_idx])) == 10
    assert sorted(np.r_[fit_idx, cal_idx]) == list(range(200))


def test_fraction_and_reproducibility():
    a = calibration_split(100, calibration_fraction=0.3, random_state=1)
    b = calibration_split(100, calibration_fraction=0.3, random_state=1)
    assert len(a[1]) == 30
    np.testing.assert_array_equal(a[1], b[1])


def test_bad_input():
    with pytest.raises(InvalidInputError, match="too small"):
        calibration_split(12)
    with pytest.raises(InvalidInputError, match="single group"):
        calibration_split(100, groups=np.zeros(100))
    with pytest.raises(InvalidInputError, match="one entry per sample"):
        calibration_split(100, groups=np.zeros(3))
    with pytest.raises(InvalidInputError, match="calibration_fraction"):
        calibration_split(100, calibration_fraction=1.0)


def test_folds_keep_groups_whole_and_balanced():
    groups = np.repeat(np.arange(12), 24)
    folds = calibration_folds(288, groups=groups, n_folds=5, random_state=3)
    assert all(np.unique(folds[groups == g]).size == 1 for g in range(12))
    assert sorted(np.bincount(folds)) == [48, 48, 48, 72, 72]
    np.testing.assert_array_equal(
        folds, calibration_folds(288, groups=groups, n_folds=5, random_state=3)
    )


def test_fold_count_is_capped_by_groups_and_samples():
    assert np.unique(calibration_folds(48, groups=np.repeat([0, 1], 24), n_folds=5)).size == 2
    assert np.bincount(calibration_folds(100, n_folds=10)).tolist() == [10] * 10
    assert np.unique(calibration_folds(10, n_folds=10)).size == 5


def test_bad_folds():
    with pytest.raises(InvalidInputError, match="n_folds"):
        calibration_folds(100, n_folds=1)
    with pytest.raises(InvalidInputError, match="too small"):
        calibration_folds(9)
    with pytest.raises(InvalidInputError, match="single group"):
        calibration_folds(100, groups=np.zeros(100))
