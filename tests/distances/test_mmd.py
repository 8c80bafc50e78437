import numpy as np
import pytest
from scipy.spatial.distance import pdist

from fmood.distances import mmd as mmd_module
from fmood.distances import mmd2_unbiased
from fmood.distances.mmd import MMD
from fmood.errors import InvalidInputError


def _naive_mmd2(A, B, sigma):
    """Gretton et al. (2012), Lemma 6, written as double loops."""

    def k(x, y):
        return np.exp(-np.sum((x - y) ** 2) / (2 * sigma**2))

    n_a, n_b = len(A), len(B)
    aa = sum(k(A[i], A[j]) for i in range(n_a) for j in range(n_a) if i != j) / (n_a * (n_a - 1))
    bb = sum(k(B[i], B[j]) for i in range(n_b) for j in range(n_b) if i != j) / (n_b * (n_b - 1))
    ab = sum(k(A[i], B[j]) for i in range(n_a) for j in range(n_b)) / (n_a * n_b)
    return aa + bb - 2 * ab


def _sets(shift, n=150, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, d)) + shift


def test_equals_naive_double_loop_with_median_heuristic():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((15, 3)).astype(np.float32)
    B = (rng.standard_normal((12, 3)) + 0.4).astype(np.float32)
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    sigma = np.sqrt(np.median(pdist(np.vstack([A64, B64]), "sqeuclidean")))
    stat = MMD(A, B, rng=rng)
    assert stat.params["bandwidth"] == pytest.approx(sigma, rel=1e-6)
    assert stat.value == pytest.approx(_naive_mmd2(A64, B64, sigma), abs=1e-6)


def test_equals_naive_double_loop_with_given_bandwidth():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((10, 2)), rng.standard_normal((14, 2))
    A, B = A.astype(np.float32).astype(np.float64), B.astype(np.float32).astype(np.float64)
    assert mmd2_unbiased(A, B, bandwidth=0.7) == pytest.approx(_naive_mmd2(A, B, 0.7), abs=1e-6)


def test_resample_is_the_u_statistic_of_the_resampled_sets():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((12, 3)).astype(np.float32)
    B = rng.standard_normal((9, 3)).astype(np.float32)
    stat = MMD(A, B, rng=rng)
    idx_a, idx_b = rng.integers(0, 12, 12), rng.integers(0, 9, 9)
    expected = _naive_mmd2(
        A[idx_a].astype(np.float64), B[idx_b].astype(np.float64), stat.params["bandwidth"]
    )
    assert stat.resample(idx_a, idx_b) == pytest.approx(expected, abs=1e-6)


def test_near_zero_and_not_significant_for_one_distribution():
    A, B = _sets(0.0)
    stat = MMD(A.astype(np.float32), B.astype(np.float32), rng=np.random.default_rng(0))
    assert abs(stat.value) < 0.01
    assert stat.p_value(np.random.default_rng(0)) > 0.05


def test_grows_with_mean_shift():
    values = [mmd2_unbiased(*_sets(shift)) for shift in (0.0, 0.25, 0.5, 1.0)]
    assert np.all(np.diff(values) > 0)


def test_clear_shift_is_significant():
    A, B = _sets(0.5)
    stat = MMD(
        A.astype(np.float32), B.astype(np.float32), rng=np.random.default_rng(0), n_permutations=200
    )
    assert stat.p_value(np.random.default_rng(0)) < 0.01


def test_p_value_counts_permutations():
    A, B = _sets(0.0, n=30)
    stat = MMD(
        A.astype(np.float32), B.astype(np.float32), rng=np.random.default_rng(0), n_permutations=99
    )
    p = stat.p_value(np.random.default_rng(0))
    assert 1 / 100 <= p <= 1 and round(p * 100) == pytest.approx(p * 100)


def test_duplicated_vectors_fall_back_from_a_zero_median():
    # 3 of 4 rows equal: most pairwise distances are 0, the median heuristic would give 0.
    A = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    stat = MMD(A.astype(np.float32), A.astype(np.float32), rng=np.random.default_rng(0))
    assert stat.params["bandwidth"] > 0 and np.isfinite(stat.value)


def test_pooled_size_guard(monkeypatch):
    monkeypatch.setattr(mmd_module, "_MAX_POOLED", 10)
    A, B = _sets(0.0, n=6)
    with pytest.raises(InvalidInputError, match="max_samples"):
        MMD(A.astype(np.float32), B.astype(np.float32), rng=np.random.default_rng(0))


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf])
def test_rejects_bad_bandwidth(bad):
    A, B = _sets(0.0, n=5)
    with pytest.raises(InvalidInputError, match="bandwidth"):
        mmd2_unbiased(A, B, bandwidth=bad)
