import numpy as np
import pytest
from sklearn.covariance import EmpiricalCovariance, LedoitWolf
from sklearn.metrics import roc_auc_score

from fmood.errors import InvalidInputError, NotFittedError
from fmood.scorers import ResidualMahalanobisScorer, ResidualScorer, get_scorer


def anisotropic(n, d, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * np.geomspace(4.0, 0.05, d)).astype(np.float32)


def complement_coords(X, Q, k):
    """Centred rows of X and Q on the d - k smallest principal directions (numpy eigh of the d x d covariance)."""
    mean = X.astype(np.float64).mean(axis=0)
    centred = X - mean
    eigvecs = np.linalg.eigh(centred.T @ centred / len(X))[1][:, ::-1]
    return centred @ eigvecs[:, k:], (Q - mean) @ eigvecs[:, k:]


@pytest.mark.parametrize("n, d", [(300, 24), (12, 40)])
@pytest.mark.parametrize("solver", ["covariance", "gram"])
def test_ledoit_wolf_matches_sklearn_on_the_residual_coordinates(n, d, solver):
    X, Q = anisotropic(n, d, 0), anisotropic(9, d, 1) * 3
    C, CQ = complement_coords(X, Q, k=4)
    expected = LedoitWolf(assume_centered=True).fit(C).mahalanobis(CQ)
    scorer = ResidualMahalanobisScorer(n_components=4, solver=solver).fit(X)
    np.testing.assert_allclose(scorer.score(Q), expected, rtol=1e-5)


def test_without_shrinkage_matches_the_empirical_covariance():
    X, Q = anisotropic(300, 24, 2), anisotropic(9, 24, 3) * 3
    C, CQ = complement_coords(X, Q, k=6)
    expected = EmpiricalCovariance(assume_centered=True).fit(C).mahalanobis(CQ)
    np.testing.assert_allclose(
        ResidualMahalanobisScorer(6, shrinkage=None).fit(X).score(Q), expected, rtol=1e-4
    )


@pytest.mark.parametrize("n", [300, 12])
def test_full_shrinkage_is_the_squared_residual_norm_up_to_a_constant(n):
    X, Q = anisotropic(n, 24, 4), anisotropic(9, 24, 5) * 3
    ours = ResidualMahalanobisScorer(5, shrinkage=1.0).fit(X).score(Q)
    ratio = ours / ResidualScorer(5).fit(X).score(Q) ** 2
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)


def test_variance_share_picks_the_smallest_subspace_explaining_it():
    X = anisotropic(300, 24, 6)
    eigvals = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1]
    k = int(np.argmax(np.cumsum(eigvals) / eigvals.sum() >= 0.8)) + 1
    scorer = ResidualMahalanobisScorer(0.8, solver="covariance").fit(X)
    assert scorer.residual_basis_.shape == (24, 24 - k)
    assert ResidualMahalanobisScorer(0.8, solver="gram").fit(X).principal_.shape == (24, k)


def test_normalize_scores_the_unit_vectors():
    X, Q = anisotropic(300, 24, 7), anisotropic(9, 24, 8)

    def unit(A):
        return A / np.linalg.norm(A, axis=1, keepdims=True)

    plain = ResidualMahalanobisScorer(4).fit(unit(X)).score(unit(Q))
    np.testing.assert_allclose(
        ResidualMahalanobisScorer(4, normalize=True).fit(X).score(Q), plain, rtol=1e-5
    )


def test_contract_shift_scores_higher(reference, in_dist, shifted):
    scorer = get_scorer("residual_mahalanobis")
    assert scorer.fit(reference) is scorer
    s_in, s_out = scorer.score(in_dist), scorer.score(shifted)
    assert s_in.shape == (200,) and s_in.dtype == np.float64
    assert roc_auc_score(np.r_[np.zeros(200), np.ones(200)], np.r_[s_in, s_out]) > 0.95
    with pytest.raises(NotFittedError):
        get_scorer("residual_mahalanobis").score(in_dist)


def test_wide_data_uses_the_gram_form_without_a_d_by_d_array():
    n, d = 40, 3000
    X, Q = anisotropic(n, d, 9), anisotropic(5, d, 10) * 2
    scorer = ResidualMahalanobisScorer().fit(X)
    assert (
        hasattr(scorer, "principal_") and max(a.size for a in scorer.get_state().values()) <= n * d
    )
    dense = ResidualMahalanobisScorer(solver="covariance").fit(X[:, :400])
    np.testing.assert_allclose(
        ResidualMahalanobisScorer().fit(X[:, :400]).score(Q[:, :400]),
        dense.score(Q[:, :400]),
        rtol=1e-4,
    )
    assert np.isfinite(scorer.score(Q)).all()


@pytest.mark.parametrize("solver", ["covariance", "gram"])
def test_state_round_trip_gives_same_scores(solver, reference, shifted):
    scorer = ResidualMahalanobisScorer(solver=solver).fit(reference)
    state = {k: np.asarray(v) for k, v in scorer.get_state().items()}
    restored = ResidualMahalanobisScorer(**scorer.get_params()).set_state(state)
    np.testing.assert_allclose(restored.score(shifted), scorer.score(shifted), rtol=1e-6)


@pytest.mark.parametrize("solver", ["covariance", "gram"])
@pytest.mark.parametrize("damage", ["missing", "extra", "nan", "narrow", "dtype", "half-layout"])
def test_set_state_refuses_a_damaged_state(solver, damage, reference):
    state = {
        k: np.asarray(v)
        for k, v in ResidualMahalanobisScorer(solver=solver).fit(reference).get_state().items()
    }
    if damage == "missing":
        del state["residual_basis_"]
    elif damage == "extra":
        state["planted_"] = np.zeros(3)
    elif damage == "nan":
        state["residual_scale_"] = state["residual_scale_"].copy()
        state["residual_scale_"][0] = np.nan
    elif damage == "narrow":
        state["residual_scale_"] = state["residual_scale_"][:-1]
    elif damage == "dtype":
        state["mean_"] = state["mean_"].astype(str)
    else:
        state["outside_scale_"] = np.asarray(1.0)
        state.pop("principal_", None)
    with pytest.raises(InvalidInputError, match="state"):
        ResidualMahalanobisScorer(solver=solver).set_state(state)


@pytest.mark.parametrize("bad", [0, 1.0, 0.0, True, "auto", 24])
def test_bad_components(bad):
    with pytest.raises(InvalidInputError, match="n_components"):
        ResidualMahalanobisScorer(bad).fit(anisotropic(300, 24, 11))


def test_subspace_as_large_as_the_data_is_refused():
    with pytest.raises(InvalidInputError, match="spans 11; pass n_components < 11"):
        ResidualMahalanobisScorer(11).fit(anisotropic(12, 40, 12))
    with pytest.raises(InvalidInputError, match="at least 3 reference samples"):
        ResidualMahalanobisScorer(1).fit(anisotropic(2, 40, 12))
