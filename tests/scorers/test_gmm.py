import numpy as np
from scipy.stats import multivariate_normal

from fmood.scorers import GMMScorer


def test_one_component_is_a_gaussian_density(reference, shifted):
    scorer = GMMScorer(n_components=1, n_pca=None, reg_covar=1e-9).fit(reference)
    cov = np.cov(reference.T.astype(np.float64), bias=True)
    ref = -multivariate_normal(reference.mean(axis=0), cov).logpdf(shifted)
    # Whitening changes the density by a constant Jacobian only.
    diff = scorer.score(shifted) - ref
    assert diff.std() < 1e-3 * ref.std()


def test_bic_finds_the_three_clusters(reference):
    scorer = GMMScorer(max_components=8).fit(reference)
    assert scorer.n_mixture_components_ in (2, 4)  # candidates are powers of two; truth is 3


def test_pca_caps_dimension(reference):
    assert GMMScorer(n_pca=4).fit(reference).projection_.shape == (16, 4)
