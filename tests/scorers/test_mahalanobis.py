import numpy as np
import pytest
from sklearn.covariance import EmpiricalCovariance, LedoitWolf

from fmood.errors import InvalidInputError
from fmood.scorers import MahalanobisScorer


def test_label_free_matches_sklearn(reference, shifted):
    ours = MahalanobisScorer(shrinkage=None).fit(reference).score(shifted)
    np.testing.assert_allclose(
        ours, EmpiricalCovariance().fit(reference).mahalanobis(shifted), rtol=1e-4
    )
    shrunk = MahalanobisScorer(shrinkage="ledoit-wolf").fit(reference).score(shifted)
    np.testing.assert_allclose(shrunk, LedoitWolf().fit(reference).mahalanobis(shifted), rtol=1e-4)


def test_class_conditional_matches_pytorch_ood(reference, shifted):
    torch = pytest.importorskip("torch")
    Mahalanobis = pytest.importorskip("pytorch_ood.detector").Mahalanobis
    labels = np.arange(len(reference)) % 4
    ours = MahalanobisScorer(shrinkage=None).fit(reference, labels).score(shifted)
    theirs = (
        Mahalanobis(None)
        .fit_features(torch.from_numpy(reference), torch.from_numpy(labels))
        .predict_features(torch.from_numpy(shifted))
        .numpy()
    )
    # pytorch-ood: 0.5 * d^2 with the unnormalised scatter matrix, i.e. 0.5 * d^2 / n.
    np.testing.assert_allclose(theirs * 2 * len(reference), ours, rtol=1e-4)


def test_normalize_is_mahalanobis_plus_plus(reference, shifted):
    unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    plain = (
        MahalanobisScorer(normalize=False)
        .fit(unit)
        .score(shifted / np.linalg.norm(shifted, axis=1, keepdims=True))
    )
    np.testing.assert_allclose(
        MahalanobisScorer(normalize=True).fit(reference).score(shifted), plain, rtol=1e-4
    )


def test_many_classes_use_means_not_per_class_covariances():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 32)).astype(np.float32)
    y = np.repeat(np.arange(1000), 3)
    scorer = MahalanobisScorer().fit(X, y)
    assert scorer.means_.shape == (1000, 32) and scorer.whitener_.shape == (32, 32)
    assert np.isfinite(scorer.score(X[:10])).all()


def test_bad_labels_and_shrinkage(reference):
    with pytest.raises(InvalidInputError, match="shape"):
        MahalanobisScorer().fit(reference, np.zeros(3))
    with pytest.raises(InvalidInputError, match="own label"):
        MahalanobisScorer().fit(reference, np.arange(len(reference)))
    with pytest.raises(InvalidInputError, match="shrinkage"):
        MahalanobisScorer(shrinkage="big").fit(reference)
