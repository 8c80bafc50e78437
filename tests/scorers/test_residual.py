import numpy as np
import pytest
from sklearn.decomposition import PCA

from fmood.errors import InvalidInputError
from fmood.scorers import ResidualScorer
from fmood.scorers.residual import auto_subspace_dim


def test_matches_pca_reconstruction_error(reference, shifted):
    pca = PCA(6).fit(reference)
    expected = np.linalg.norm(shifted - pca.inverse_transform(pca.transform(shifted)), axis=1)
    np.testing.assert_allclose(ResidualScorer(6).fit(reference).score(shifted), expected, rtol=1e-3)


def test_auto_dimension_follows_vim():
    assert [auto_subspace_dim(d) for d in (2048, 768, 512)] == [1000, 512, 256]


def test_bad_components(reference):
    with pytest.raises(InvalidInputError, match="n_components"):
        ResidualScorer(16).fit(reference)


@pytest.mark.parametrize("solver", ["covariance", "gram"])
def test_normalize_scores_the_unit_vectors(solver, reference, shifted):
    def unit(A):
        return A / np.linalg.norm(A, axis=1, keepdims=True)

    plain = ResidualScorer(6, solver=solver).fit(unit(reference)).score(unit(shifted))
    ours = ResidualScorer(6, solver=solver, normalize=True).fit(reference).score(shifted)
    np.testing.assert_allclose(ours, plain, rtol=1e-4)
