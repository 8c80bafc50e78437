import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from fmood.distances._pairwise import median_offdiagonal, squared_distances


def test_squared_distances_match_scipy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 5)).astype(np.float32)
    Y = rng.standard_normal((20, 5)).astype(np.float32)
    expected = cdist(X.astype(np.float64), Y.astype(np.float64), "sqeuclidean")
    np.testing.assert_allclose(squared_distances(X, Y), expected, rtol=1e-5, atol=1e-5)
    assert np.all(np.diag(squared_distances(X)) == 0)


@pytest.mark.parametrize("n", [5, 6])
def test_median_is_over_distinct_pairs(n):
    X = np.random.default_rng(n).standard_normal((n, 3))
    D2 = cdist(X, X, "sqeuclidean")
    assert median_offdiagonal(D2) == pytest.approx(np.median(pdist(X, "sqeuclidean")))


def test_median_fallbacks_never_give_zero():
    X = np.array([[0.0], [0.0], [0.0], [0.0], [2.0]])  # 12 of 20 distances are 0
    D2 = cdist(X, X, "sqeuclidean")
    assert median_offdiagonal(D2) == pytest.approx(4.0)  # mean of the non-zero entries
    assert median_offdiagonal(np.zeros((3, 3))) == 1.0
