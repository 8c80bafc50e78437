"""Fits with far more features than samples stay fast and small.

With n samples in d >> n dimensions the covariance has rank < n: Mahalanobis and the residual
score take the (n, n) Gram form (O(n^2 d)) and never form a (d, d) matrix, for the same scores
as the covariance form.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest

from fmood.calibration.detector import OODDetector
from fmood.errors import InvalidInputError
from fmood.scorers import available_scorers, get_scorer

N, D = 50, 300


@pytest.fixture(scope="module")
def wide() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference (N, D) with uneven variances and an offset, queries off its span, labels."""
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((N, D)) * np.linspace(0.1, 3, D) + 5).astype(np.float32)
    Q = (rng.standard_normal((30, D)) * 2 + 5).astype(np.float32)
    return X, Q, np.arange(N) % 3


@pytest.mark.parametrize(
    "params, labelled",
    [
        ({}, False),
        ({"shrinkage": None}, False),
        ({"shrinkage": "oas"}, False),
        ({"shrinkage": 0.3}, False),
        ({}, True),
        ({"normalize": True}, True),
    ],
)
def test_mahalanobis_gram_form_equals_covariance_form(wide, params, labelled):
    X, Q, y = wide
    y = y if labelled else None
    primal = get_scorer("mahalanobis", solver="covariance", **params).fit(X, y)
    dual = get_scorer("mahalanobis", solver="gram", **params).fit(X, y)
    assert primal.whitener_.shape == (D, D) and dual.basis_.shape[0] == D
    queries = np.vstack([Q, X[:5]])  # off the reference's span, and on it
    np.testing.assert_allclose(dual.score(queries), primal.score(queries), rtol=1e-5)


@pytest.mark.parametrize("n_components", ["auto", 10])
def test_residual_gram_form_equals_covariance_form(wide, n_components):
    X, Q, _ = wide
    primal = get_scorer("residual", solver="covariance", n_components=n_components).fit(X)
    dual = get_scorer("residual", solver="gram", n_components=n_components).fit(X)
    np.testing.assert_allclose(dual.score(Q), primal.score(Q), rtol=1e-5)
    # Reference rows lie in the principal span when it is all of it: a residual of rounding size.
    scale = primal.score(Q).mean()
    np.testing.assert_allclose(dual.score(X[:5]), primal.score(X[:5]), atol=1e-5 * scale)


def test_fewer_samples_than_features_take_the_gram_form():
    X = np.random.default_rng(1).standard_normal((40, 1000)).astype(np.float32)
    mahalanobis, residual = get_scorer("mahalanobis").fit(X), get_scorer("residual").fit(X)
    assert set(mahalanobis.get_state()) == {
        "n_features_in_",
        "means_",
        "basis_",
        "basis_scale_",
        "complement_scale_",
    }
    assert mahalanobis.basis_.shape == (1000, 39)
    assert set(residual.get_state()) == {"n_features_in_", "mean_", "principal_"}
    assert residual.principal_.shape == (1000, 39)
    tall = np.random.default_rng(2).standard_normal((300, 20)).astype(np.float32)
    assert get_scorer("mahalanobis").fit(tall).whitener_.shape == (20, 20)
    assert get_scorer("residual").fit(tall).complement_.shape == (20, 10)


def test_residual_subspace_larger_than_the_data_is_refused(wide):
    X = wide[0]
    with pytest.raises(InvalidInputError, match=f"span at most {N - 1} directions"):
        get_scorer("residual", n_components=100).fit(X)


def test_bad_solver_is_refused(wide):
    for name in ("mahalanobis", "residual"):
        with pytest.raises(InvalidInputError, match="solver must be one of"):
            get_scorer(name, solver="svd").fit(wide[0])


@pytest.mark.parametrize("name", available_scorers())
def test_every_scorer_fits_sixty_samples_of_16384_features_without_a_d_by_d_array(name):
    """The hostile tester's case: n=60, d=16,384 ran past 10 minutes in fit (a d x d eigh)."""
    n, d = 60, 16384
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, d)).astype(np.float32)
    params = {"k": 5} if name == "knn" else {}
    scorer = get_scorer(name, **params)
    with pytest.warns(RuntimeWarning) if name == "relative_mahalanobis" else nullcontext():
        scorer.fit(X)
    scores = scorer.score(rng.standard_normal((6, d)).astype(np.float32))
    assert scores.shape == (6,) and np.isfinite(scores).all()
    assert max(np.asarray(a).size for a in scorer.get_state().values()) <= 2 * n * d


def test_default_detector_on_wide_data_saves_and_loads(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 4096)).astype(np.float32)
    Q = rng.standard_normal((5, 4096)).astype(np.float32) * 3
    detector = OODDetector().fit(X)
    loaded = OODDetector.load(detector.save(tmp_path / "d"))
    np.testing.assert_array_equal(loaded.assess(Q)["p_combined"], detector.assess(Q)["p_combined"])
    # O(models x n x d), never d x d: each cross-fitted model keeps at most n x d numbers.
    assert (tmp_path / "d" / "arrays.npz").stat().st_size < 4 * 60 * 4096 * 4 * len(
        detector.models_
    )
