import warnings

import numpy as np
import pytest
from scipy.special import logsumexp, softmax
from scipy.stats import multivariate_normal

from fmood.errors import InvalidInputError, NotFittedError
from fmood.metrics import auroc
from fmood_bench.evaluation.baselines import (
    BASELINES,
    PROBE_BASED,
    MahalanobisBaseline,
    is_baseline,
    list_baselines,
    make_baseline,
    vim_dim,
)

D = 16
CENTERS = np.random.default_rng(1234).standard_normal((3, D)) * 3.0
SCALES = np.linspace(0.3, 1.5, D)


def gaussian(n, centers, seed):
    """``n`` float32 samples around ``centers`` (n_centers, D), and their center index."""
    rng = np.random.default_rng(seed)
    y = rng.integers(len(centers), size=n)
    return (centers[y] + rng.standard_normal((n, D)) * SCALES).astype(np.float32), y


@pytest.fixture(scope="module")
def train():
    return gaussian(400, CENTERS, seed=0)


@pytest.fixture(scope="module")
def in_dist():
    return gaussian(200, CENTERS, seed=1)[0]


@pytest.fixture(scope="module")
def novel_class():
    """A new class midway between the known ones: far from each, ambiguous to a classifier.

    A shift away from all classes would be unfair to the logit baselines: a linear head
    grows more confident with distance along most directions (Hein et al., CVPR 2019).
    """
    return gaussian(200, CENTERS.mean(axis=0, keepdims=True), seed=2)[0]


@pytest.fixture(scope="module")
def far_shift(in_dist):
    shifted = in_dist.copy()
    shifted[:, 0] += 8.0  # along the least-spread axis, as in tests/synthetic.py
    return shifted


@pytest.fixture(scope="module")
def fitted(train):
    X, y = train
    return {name: make_baseline(name).fit(X, y) for name in BASELINES}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_novel_class_scores_higher(fitted, in_dist, novel_class, name):
    scores_id = fitted[name].score(in_dist)
    scores_ood = fitted[name].score(novel_class)
    assert auroc(scores_id, scores_ood) > 0.9
    for scores in (scores_id, scores_ood):
        assert scores.shape == (200,) and scores.dtype == np.float64
        assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", ["knn", "mahalanobis", "gmm", "vim"])
def test_far_shift_scores_higher(fitted, in_dist, far_shift, name):
    assert auroc(fitted[name].score(in_dist), fitted[name].score(far_shift)) > 0.9


def test_logit_baselines_equal_their_closed_forms(fitted, novel_class):
    logits = fitted["msp"].probe_.logits(novel_class)
    expected = {
        "msp": -softmax(logits, axis=1).max(axis=1),
        "energy": -logsumexp(logits, axis=1),
        "maxlogit": -logits.max(axis=1),
    }
    for name, want in expected.items():
        np.testing.assert_allclose(fitted[name].score(novel_class), want, rtol=1e-5, atol=1e-5)


def test_temperature_is_passed_on(train, novel_class):
    X, y = train
    msp = make_baseline("msp", t=3.0).fit(X, y)
    energy = make_baseline("energy", t=3.0).fit(X, y)
    logits = msp.probe_.logits(novel_class)
    np.testing.assert_allclose(
        msp.score(novel_class), -softmax(logits / 3, axis=1).max(axis=1), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        energy.score(novel_class), -3 * logsumexp(logits / 3, axis=1), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("k", [1, 50])
def test_knn_is_the_kth_neighbour_distance_of_normalised_features(train, far_shift, k):
    X, _ = train
    knn = make_baseline("knn", k=k).fit(X)
    ref = X / np.linalg.norm(X, axis=1, keepdims=True)
    queries = far_shift / np.linalg.norm(far_shift, axis=1, keepdims=True)
    dist = np.linalg.norm(queries[:, None, :].astype(np.float64) - ref[None], axis=2)
    np.testing.assert_allclose(knn.score(far_shift), np.sort(dist, axis=1)[:, k - 1], rtol=1e-4)
    raw = make_baseline("knn", k=k, normalize=False).fit(X).score(far_shift)
    dist = np.linalg.norm(far_shift[:, None, :].astype(np.float64) - X[None], axis=2)
    np.testing.assert_allclose(raw, np.sort(dist, axis=1)[:, k - 1], rtol=1e-4)


def test_mahalanobis_is_half_the_squared_distance_over_n(fitted, train, novel_class):
    # pytorch-ood's covariance is the unnormalised scatter matrix: 0.5 * d^2 / n.
    X, y = train
    X = X.astype(np.float64)
    means = np.stack([X[y == c].mean(axis=0) for c in range(3)])
    centred = X - means[y]
    precision = np.linalg.inv(centred.T @ centred / len(X))
    diff = novel_class[:, None, :] - means[None]
    squared = np.einsum("nkd,de,nke->nk", diff, precision, diff).min(axis=1)
    got = fitted["mahalanobis"].score(novel_class)
    np.testing.assert_allclose(got, squared / (2 * len(X)), rtol=1e-3)


def test_gmm_is_the_mixture_negative_log_likelihood(train, novel_class):
    X, y = train
    gmm = make_baseline("gmm", reg=1e-3).fit(X, y)
    log_joint = np.stack(
        [
            np.log(np.mean(y == c))
            + multivariate_normal(
                X[y == c].mean(axis=0), np.cov(X[y == c].T, bias=True) + 1e-3 * np.eye(D)
            ).logpdf(novel_class)
            for c in range(3)
        ],
        axis=1,
    )
    np.testing.assert_allclose(gmm.score(novel_class), -logsumexp(log_joint, axis=1), rtol=1e-6)


def test_vim_matches_the_paper_formula_on_the_raw_head(fitted, train, novel_class):
    X, _ = train
    vim = fitted["vim"]
    assert vim.dim_ == vim_dim(D, len(X)) == D // 2
    W, b = vim.probe_.weight_, vim.probe_.bias_
    # The probe's rows sum to zero, so W has rank n_classes - 1 and a round-off singular value
    # that pinv must drop (numpy's default rcond=1e-15 keeps it); u solves W u + b = 0.
    u = -np.linalg.pinv(W, rcond=1e-10) @ b
    np.testing.assert_allclose(W @ u + b, 0.0, atol=1e-9)
    centred = X.astype(np.float64) - u
    _, vectors = np.linalg.eigh(centred.T @ centred / len(X))
    residual_space = vectors[:, : D - vim.dim_]
    residual_norm = np.linalg.norm(centred @ residual_space, axis=1)
    alpha = vim.probe_.logits(X).max(axis=1).mean() / residual_norm.mean()
    logits = vim.probe_.logits(novel_class)
    virtual = alpha * np.linalg.norm((novel_class - u) @ residual_space, axis=1)
    want = virtual - logsumexp(logits, axis=1)
    np.testing.assert_allclose(vim.score(novel_class), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("n_features", "n_samples", "want"),
    [
        (4096, 10**5, 1000),
        (2048, 5000, 1000),
        (1024, 5000, 512),
        (768, 5000, 512),
        (512, 5000, 256),
        (1536, 300, 150),
        (2, 10, 1),
        (3, 2, 1),
    ],
)
def test_vim_dim_rule(n_features, n_samples, want):
    assert vim_dim(n_features, n_samples) == want


def test_vim_dim_must_leave_a_residual(train):
    X, y = train
    with pytest.raises(InvalidInputError, match=f"dim={D} leaves no residual"):
        make_baseline("vim", dim=D).fit(X, y)
    assert make_baseline("vim", dim=3).fit(X, y).dim_ == 3


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_labels_are_required_exactly_where_documented(train, name):
    X, _ = train
    baseline = make_baseline(name)
    needs_labels = name in PROBE_BASED or name in ("mahalanobis", "gmm")
    assert baseline.uses_labels == needs_labels
    if needs_labels:
        with pytest.raises(InvalidInputError, match=f"baseline '{name}' needs the in-distribution"):
            baseline.fit(X)
    else:
        assert baseline.fit(X) is baseline


def test_any_label_values_work(train, in_dist):
    X, y = train
    names = np.array(["cyst", "normal", "tumour"])[y]
    for name in ("mahalanobis", "gmm", "msp"):
        by_name = make_baseline(name).fit(X, names).score(in_dist)
        by_index = make_baseline(name).fit(X, y + 7).score(in_dist)
        np.testing.assert_array_equal(by_name, by_index)


def test_registry_and_errors(train, in_dist):
    X, _ = train
    assert set(PROBE_BASED) <= set(BASELINES)
    with pytest.raises(InvalidInputError, match="unknown baseline 'odin'; available: energy, gmm"):
        make_baseline("odin")
    with pytest.raises(InvalidInputError, match="did you mean 'msp'"):
        make_baseline("mps")
    with pytest.raises(InvalidInputError, match="no parameter 'q'; its parameters are: k, norm"):
        make_baseline("knn", q=3)
    with pytest.raises(InvalidInputError, match="its parameters are: \\(none\\)"):
        make_baseline("mahalanobis", shrinkage=0.1)
    assert repr(make_baseline("vim", dim=4)) == "ViMBaseline(dim=4)"  # scikit-learn's repr
    assert list_baselines("m*") == ["mahalanobis", "maxlogit", "msp"]
    assert is_baseline("vim") and not is_baseline("odin")
    for name in BASELINES:
        with pytest.raises(NotFittedError, match="is not fitted yet"):
            make_baseline(name).score(in_dist)
    knn = make_baseline("knn", k=5).fit(X)
    with pytest.raises(InvalidInputError, match=f"X has 5 features, expected {D}"):
        knn.score(in_dist[:, :5])
    with pytest.raises(InvalidInputError, match="k=401 exceeds the 400 reference samples"):
        make_baseline("knn", k=401).fit(X)


def test_read_only_input_without_warnings(train, in_dist):
    X, y = train
    X, queries = X.copy(), in_dist.copy()
    X.setflags(write=False)
    queries.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("knn", "msp"):
            make_baseline(name).fit(X, y).score(queries)


def test_mahalanobis_warns_when_its_covariance_is_singular(train):
    X, y = train
    n_classes = len(np.unique(y[:12]))
    with pytest.warns(RuntimeWarning, match=f"12 samples in {n_classes} classes leave"):
        MahalanobisBaseline().fit(X[:12], y[:12])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MahalanobisBaseline().fit(X, y)


def test_gmm_without_ridge_refuses_a_degenerate_class():
    X = np.repeat(np.eye(2, D, dtype=np.float32), 3, axis=0)  # each class: one point, 3 times
    with pytest.raises(InvalidInputError, match="GMM could not be fitted.*increase reg"):
        make_baseline("gmm", reg=0.0).fit(X, np.repeat([0, 1], 3))


def test_a_detector_of_baselines_fits_but_is_not_saved(train, in_dist, tmp_path):
    from fmood.calibration.detector import OODDetector

    X, _ = train
    detector = OODDetector(scorers=[make_baseline("knn", k=5)]).fit(X)
    assert detector.assess(in_dist).shape[0] == len(in_dist)
    with pytest.raises(InvalidInputError, match="pytorch-ood detector, which fmood does not save"):
        detector.save(tmp_path / "d")
    assert not (tmp_path / "d").exists()
