import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf_shrinkage, oas

from fmood.scorers._gaussian import class_means, gram, scatter, shrinkage_weight


@pytest.fixture
def centred():
    X = np.random.default_rng(0).standard_normal((300, 40)) * np.linspace(0.1, 3, 40)
    return (X - X.mean(axis=0)).astype(np.float32)


def test_blockwise_scatter_equals_the_full_product(centred):
    means, inverse = class_means(centred, None)
    s = scatter(centred, means, inverse, batch_size=7)
    C = centred.astype(np.float64) - means[0]
    np.testing.assert_allclose(s.covariance, C.T @ C / len(C), rtol=1e-10)
    assert s.sum_fourth == pytest.approx(np.sum(np.sum(C**2, axis=1) ** 2))


def test_shrinkage_matches_scikit_learn(centred):
    means, inverse = class_means(centred, None)
    s = scatter(centred, means, inverse)
    C = centred.astype(np.float64) - means[0]
    assert shrinkage_weight(s.moments, "ledoit-wolf") == pytest.approx(
        ledoit_wolf_shrinkage(C, assume_centered=True), rel=1e-6
    )
    assert shrinkage_weight(s.moments, "oas") == pytest.approx(
        oas(C, assume_centered=True)[1], rel=1e-6
    )
    assert shrinkage_weight(s.moments, 0.25) == 0.25


def test_class_means_match_numpy(centred):
    y = np.arange(len(centred)) % 7
    means, inverse = class_means(centred, y)
    expected = np.stack([centred[y == c].mean(axis=0) for c in range(7)])
    np.testing.assert_allclose(means, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(inverse, y)


def test_gram_gives_the_covariance_spectrum_when_samples_are_fewer_than_features():
    X = (np.random.default_rng(1).standard_normal((30, 200)) * np.linspace(0.1, 3, 200)).astype(
        np.float32
    )
    y = np.arange(30) % 3
    means, inverse = class_means(X, y)
    g, s = gram(X, means, inverse, batch_size=64), scatter(X, means, inverse)
    eigvals, eigvecs = np.linalg.eigh(s.covariance)
    assert g.eigvals.shape == (27,)  # rank n - n_classes
    np.testing.assert_allclose(g.eigvals, eigvals[::-1][:27], rtol=1e-8)
    # Same subspace: the Gram basis projects the covariance eigenvectors onto themselves.
    top = eigvecs[:, ::-1][:, :27]
    np.testing.assert_allclose(np.linalg.norm(g.basis.T @ top, axis=0), 1, rtol=1e-8)
    for field in ("trace", "frobenius", "sum_fourth"):
        assert getattr(g.moments, field) == pytest.approx(getattr(s.moments, field), rel=1e-10)
    C = X.astype(np.float64) - means[inverse]
    assert shrinkage_weight(g.moments, "ledoit-wolf") == pytest.approx(
        ledoit_wolf_shrinkage(C, assume_centered=True), rel=1e-6
    )
    assert shrinkage_weight(g.moments, "oas") == pytest.approx(
        oas(C, assume_centered=True)[1], rel=1e-6
    )
