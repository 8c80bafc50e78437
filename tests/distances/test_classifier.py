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
