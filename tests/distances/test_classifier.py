import numpy as np
import pytest

from fmood.distances.classifier import DomainClassifier
from fmood.errors import InvalidInputError


def _fit(shift, n=200, d=8, seed=0, **params):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d)).astype(np.float32)
    B = (rng.standard_normal((n, d)) + shift).astype(np.float32)
    return DomainClassifier(A, B, rng=np.random.default_rng(seed), **params)


def test_chance_for_one_distribution():
    stat = _fit(0.0)
    assert abs(stat.value - 0.5) < 0.1
    assert abs(stat.extra["proxy_a_distance"]) < 0.4


def test_near_one_for_separated_sets():
    stat = _fit(3.0)
    assert stat.value > 0.99
    assert stat.extra["proxy_a_distance"] > 1.8


def test_resample_with_all_rows_is_the_value():
    stat = _fit(0.5, n=60)
    assert stat.resample(np.arange(60), np.arange(60)) == stat.value


def test_folds_shrink_to_the_smaller_set():
    rng = np.random.default_rng(0)
    stat = DomainClassifier(
        rng.standard_normal((3, 4)).astype(np.float32),
        rng.standard_normal((50, 4)).astype(np.float32),
        rng=rng,
    )
    assert stat.extra["n_splits"] == 3


def test_constant_features_and_more_features_than_samples():
    rng = np.random.default_rng(1)
    A = np.c_[rng.standard_normal((20, 50)), np.ones(20)].astype(np.float32)
    B = np.c_[rng.standard_normal((20, 50)) + 2, np.ones(20)].astype(np.float32)
    assert DomainClassifier(A, B, rng=rng).value > 0.9


def test_rejects_one_fold():
    with pytest.raises(InvalidInputError, match="cv"):
        _fit(0.0, n=10, cv=1)


def _patients(patients, centres, rng, per_patient=6):
    """Rows scattered tightly around their patient's centre, and each row's patient."""
    X = np.concatenate([centres[p] + 0.05 * rng.normal(size=(per_patient, 32)) for p in patients])
    return X.astype(np.float32), np.repeat([f"p{p}" for p in patients], per_patient)


def test_groups_keep_patients_whole_so_patients_are_not_mistaken_for_a_shift():
    # A and B are different patients from one distribution. Row-wise folds put each
    # patient's near-duplicate rows on both sides and learn who is who (AUROC near 1);
    # patient-wise folds cannot, and see no shift.
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(20, 32)) * 3
    A, groups_a = _patients(range(12), centres, rng)
    B, groups_b = _patients(range(12, 20), centres, rng)
    rowwise = DomainClassifier(A, B, rng=np.random.default_rng(0))
    grouped = DomainClassifier(A, B, rng=np.random.default_rng(0), groups=np.r_[groups_a, groups_b])
    assert rowwise.value > 0.9 and grouped.value < 0.75
    assert grouped.extra["n_splits"] == 5


def test_group_folds_shrink_to_the_groups_of_the_smaller_set():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(10, 32))
    A, groups_a = _patients(range(7), centres, rng)
    B, groups_b = _patients(range(7, 10), centres + 2.0, rng)
    stat = DomainClassifier(A, B, rng=rng, groups=np.r_[groups_a, groups_b])
    assert stat.extra["n_splits"] == 3 and stat.value > 0.9


def test_groups_must_name_every_row_and_give_two_groups_a_side():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((12, 4)).astype(np.float32)
    B = rng.standard_normal((12, 4)).astype(np.float32)
    with pytest.raises(InvalidInputError, match=r"groups must have one entry per sample \(24\)"):
        DomainClassifier(A, B, rng=rng, groups=np.arange(12))
    one_target_patient = np.r_[np.arange(12) % 4, np.full(12, 99)]
    with pytest.raises(InvalidInputError, match="at least 2 groups in each set, got 1"):
        DomainClassifier(A, B, rng=rng, groups=one_target_patient)
