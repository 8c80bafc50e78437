import warnings

import numpy as np
import pytest
from sklearn.covariance import EmpiricalCovariance

from fmood.scorers import RelativeMahalanobisScorer


def float64_reference(X, y, Q):
    X, Q = X.astype(np.float64), Q.astype(np.float64)
    means = np.stack([X[y == c].mean(axis=0) for c in np.unique(y)])
    within = np.linalg.inv(np.cov((X - means[y]).T, bias=True))
    per_class = np.stack([np.einsum("ij,jk,ik->i", Q - m, within, Q - m) for m in means], axis=1)
    return per_class.min(axis=1) - EmpiricalCovariance().fit(X).mahalanobis(Q)


def test_with_labels_matches_float64_reference_and_pytorch_ood(reference, shifted):
    torch = pytest.importorskip("torch")
    RMD = pytest.importorskip("pytorch_ood.detector").RMD
    labels = np.arange(len(reference)) % 3
    ours = RelativeMahalanobisScorer(shrinkage=None).fit(reference, labels).score(shifted)
    expected = float64_reference(reference, labels, shifted)
    # RMD is a difference of two distances of ~500: compare at the precision of those.
    scale = EmpiricalCovariance().fit(reference).mahalanobis(shifted).max()
    np.testing.assert_allclose(ours, expected, atol=1e-5 * scale)
    theirs = (
        RMD(None)
        .fit_features(torch.from_numpy(reference), torch.from_numpy(labels))
        .predict_features(torch.from_numpy(shifted))
        .numpy()
    )
    # pytorch-ood: unnormalised scatter matrices (scores / n), inverted in float32.
    np.testing.assert_allclose(theirs * len(reference), ours, atol=2e-5 * scale)


def test_label_free_uses_clusters(reference, in_dist):
    scorer = RelativeMahalanobisScorer(n_clusters=3).fit(reference)
    scores = scorer.score(in_dist)
    assert np.isfinite(scores).all() and scores.std() > 0


def test_fewer_samples_than_features_warns_and_would_invert():
    # 40 samples of 200 features in 4 clusters; a far image has energy off the reference's span.
    rng = np.random.default_rng(3)
    X = (np.repeat(rng.normal(size=(4, 200)) * 3, 10, axis=0) + rng.normal(size=(40, 200))).astype(
        np.float32
    )
    with pytest.warns(RuntimeWarning, match="40 reference samples of 200 features"):
        scorer = RelativeMahalanobisScorer(n_clusters=4).fit(X)
    near, far = X[:5] + 0.1, X[:5] + 10 * rng.normal(size=(5, 200)).astype(np.float32)
    assert scorer.score(far).mean() < scorer.score(near).mean()  # the failure the warning names
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RelativeMahalanobisScorer(n_clusters=4).fit(np.vstack([X] * 6)[:, :100])


def test_fitted_gaussians_are_public_and_saved_under_the_old_keys(reference, shifted):
    labels = np.arange(len(reference)) % 3
    scorer = RelativeMahalanobisScorer().fit(reference, labels)
    assert scorer.class_gaussian_.means_.shape == (3, reference.shape[1])
    assert scorer.background_gaussian_.means_.shape == (1, reference.shape[1])
    state = scorer.get_state()
    # Saved detectors (format versions 1 to 3) hold these keys: they must keep loading.
    assert sorted(state) == [
        "background.means_",
        "background.n_features_in_",
        "background.whitener_",
        "classes.means_",
        "classes.n_features_in_",
        "classes.whitener_",
        "n_features_in_",
    ]
    restored = RelativeMahalanobisScorer().set_state({k: np.asarray(v) for k, v in state.items()})
    np.testing.assert_array_equal(restored.score_samples(shifted), scorer.score_samples(shifted))
    assert restored.class_gaussian_.means_.shape == (3, reference.shape[1])
