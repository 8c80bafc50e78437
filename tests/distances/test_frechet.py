import numpy as np
import pytest
import scipy.linalg

from fmood.distances import frechet_distance
from fmood.distances.frechet import FrechetDistance, gaussian_moments


def _closed_form(mu1, S1, mu2, S2):
    """FID formula with scipy's general matrix square root (the reference implementation)."""
    covmean = scipy.linalg.sqrtm(S1 @ S2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(S1 + S2 - 2 * covmean))


def test_matches_closed_form_on_true_gaussian_parameters():
    rng = np.random.default_rng(0)
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 0.0, -1.0])
    L1 = np.array([[1.0, 0, 0], [0.5, 1.0, 0], [0.2, -0.3, 0.7]])
    L2 = np.array([[2.0, 0, 0], [0.0, 0.5, 0], [0.4, 0.1, 1.0]])
    S1, S2 = L1 @ L1.T, L2 @ L2.T
    A = rng.multivariate_normal(mu1, S1, size=40_000)
    B = rng.multivariate_normal(mu2, S2, size=40_000)
    expected = _closed_form(mu1, S1, mu2, S2)
    assert frechet_distance(A, B) == pytest.approx(expected, rel=0.03)


def test_equals_direct_scipy_on_sample_moments():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((200, 6)).astype(np.float32)
    B = (rng.standard_normal((150, 6)) @ rng.standard_normal((6, 6)) + 0.3).astype(np.float32)
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    expected = _closed_form(A64.mean(0), np.cov(A64.T), B64.mean(0), np.cov(B64.T))
    assert frechet_distance(A, B) == pytest.approx(expected, rel=1e-7)


def test_moments_match_numpy():
    X = np.random.default_rng(2).standard_normal((50, 4)).astype(np.float32)
    mean, cov = gaussian_moments(X)
    np.testing.assert_allclose(mean, X.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(X.astype(np.float64).T), rtol=1e-10)


def test_zero_for_identical_sets():
    A = np.random.default_rng(3).standard_normal((100, 16))
    assert frechet_distance(A, A) == pytest.approx(0.0, abs=1e-9)


def test_more_features_than_samples_is_symmetric_and_finite():
    # Both covariances are singular (rank 9 in 30 dimensions): the eigen-factor path.
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((10, 30)), rng.standard_normal((12, 30)) + 0.2
    forward, backward = frechet_distance(A, B), frechet_distance(B, A)
    assert np.isfinite(forward) and forward > 0
    assert forward == pytest.approx(backward, rel=1e-6)


def test_constant_feature_changes_nothing():
    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((80, 5)), rng.standard_normal((90, 5)) + 0.5
    with_constant = frechet_distance(np.c_[A, np.ones(80)], np.c_[B, np.ones(90)])
    assert with_constant == pytest.approx(frechet_distance(A, B), rel=1e-6)


def test_resample_refits_on_the_drawn_rows():
    rng = np.random.default_rng(6)
    A = rng.standard_normal((40, 3)).astype(np.float32)
    B = rng.standard_normal((30, 3)).astype(np.float32)
    stat = FrechetDistance(A, B, rng=rng)
    idx_a, idx_b = rng.integers(0, 40, 40), rng.integers(0, 30, 30)
    expected = frechet_distance(A[idx_a], B[idx_b])
    assert stat.resample(idx_a, idx_b) == pytest.approx(expected, rel=1e-9)
    assert stat.resample(np.arange(40), np.arange(30)) == stat.value
