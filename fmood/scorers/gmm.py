"""Gaussian-mixture density score (negative log-likelihood).

A classic density baseline (e.g. the GMM detector of pytorch-ood, and Morteza & Li, "Provable
Guarantees for Understanding Out-of-distribution Detection", AAAI 2022); component count chosen
by the Bayesian information criterion (Schwarz 1978).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from fmood.errors import InvalidInputError
from fmood.scorers.base import (
    DEFAULT_BATCH_SIZE,
    FEATURES,
    BaseScorer,
    StateSpec,
    batched,
    register,
)

#: Shape of the mixture's covariance arrays, per covariance type ("c" components, "p" PCA dims).
_COVARIANCE_SHAPES = {
    "full": ("n_mixture_components_", "pca", "pca"),
    "tied": ("pca", "pca"),
    "diag": ("n_mixture_components_", "pca"),
    "spherical": ("n_mixture_components_",),
}


@register
class GMMScorer(BaseScorer):
    """Negative log-density under a Gaussian mixture fitted to PCA-whitened features.

    Full-covariance mixtures in 768 dimensions need far more samples than a hospital has, so
    the features are first projected onto their top ``n_pca`` principal components and
    whitened; the mixture lives there. Directions outside that subspace are ignored, which is
    what :class:`~fmood.scorers.residual.ResidualScorer` scores instead.

    Parameters
    ----------
    n_components : int or "bic"
        Mixture size, or "bic" to try 1, 2, 4, ... up to ``max_components`` and keep the
        lowest BIC.
    max_components : int
        Largest mixture tried by "bic" (also capped so every component can have >= 2 * dim
        samples on average).
    n_pca : int or None
        Principal components kept (capped at n_samples - 1 and n_features); None keeps all.
    covariance_type : {"full", "diag", "tied", "spherical"}
    reg_covar : float
        Added to covariance diagonals; features are whitened, so this is relative.
    random_state : int
    batch_size : int

    Attributes
    ----------
    pca_mean_ : ndarray of shape (n_features,), float32
    projection_ : ndarray of shape (n_features, n_pca_kept), float32
        Whitened PCA projection: ``z = (x - pca_mean_) @ projection_``.
    n_mixture_components_ : int
        Mixture size (the one BIC chose with ``n_components="bic"``).
    weights_, means_, precisions_cholesky_, covariances_ : ndarray
        The fitted :class:`sklearn.mixture.GaussianMixture` in the whitened PCA space.
    n_features_in_ : int
        Number of features seen by ``fit``.

    See Also
    --------
    sklearn.mixture.GaussianMixture : the mixture fitted here.
    fmood_bench.evaluation.baselines.GMMBaseline : pytorch-ood's class-conditional Gaussians.

    References
    ----------
    Schwarz, "Estimating the Dimension of a Model", Annals of Statistics 1978 (BIC).
    Morteza & Li, "Provable Guarantees for Understanding Out-of-distribution Detection",
    AAAI 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from fmood.scorers import GMMScorer
    >>> X = np.random.default_rng(0).normal(size=(300, 6))
    >>> scorer = GMMScorer(n_components=2, n_pca=4).fit(X)
    >>> scorer.projection_.shape, int(scorer.n_mixture_components_)
    ((6, 4), 2)
    >>> bool(scorer.score_samples(X[:1] + 5)[0] > scorer.score_samples(X[:1])[0])
    True
    """

    name = "gmm"
    reference = "Gaussian mixture density with BIC model selection (Schwarz 1978)"

    def __init__(
        self,
        n_components: int | str = "bic",
        max_components: int = 8,
        n_pca: int | None = 64,
        covariance_type: str = "full",
        reg_covar: float = 1e-3,
        random_state: int = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.n_components = n_components
        self.max_components = max_components
        self.n_pca = n_pca
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.random_state = random_state
        self.batch_size = batch_size

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> GMMScorer:
        """Fit the PCA projection and the mixture on ``X`` (n_samples, n_features); ``y`` is
        ignored."""
        X, _ = self._validate_fit_data(X, y)
        n, d = X.shape
        if n < 3:
            raise InvalidInputError(f"the GMM scorer needs at least 3 reference samples, got {n}")
        dim = min(d, n - 1) if self.n_pca is None else min(self.n_pca, d, n - 1)
        pca = PCA(dim, whiten=True, random_state=self.random_state).fit(X)
        Z = pca.transform(X)
        mixture = self._select_mixture(Z)
        self.pca_mean_ = pca.mean_.astype(np.float32)
        # Whitened projection as one matrix: z = (x - mean) @ projection_.
        self.projection_ = (pca.components_.T / np.sqrt(pca.explained_variance_)).astype(np.float32)
        self.weights_ = mixture.weights_
        self.means_ = mixture.means_
        self.precisions_cholesky_ = mixture.precisions_cholesky_
        self.covariances_ = mixture.covariances_
        self.n_mixture_components_ = mixture.n_components
        self._restore()
        self.n_features_in_ = d
        return self

    def _candidates(self, n: int, dim: int) -> list[int]:
        if self.n_components != "bic":
            return [int(self.n_components)]
        cap = max(1, min(int(self.max_components), n // max(2 * dim, 1)))
        sizes = [1]
        while sizes[-1] * 2 <= cap:
            sizes.append(sizes[-1] * 2)
        return sizes

    def _mixture(self, n_components: int) -> GaussianMixture:
        return GaussianMixture(
            n_components,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            random_state=self.random_state,
        )

    def _select_mixture(self, Z: np.ndarray) -> GaussianMixture:
        fits = [self._mixture(c).fit(Z) for c in self._candidates(*Z.shape)]
        return min(fits, key=lambda m: m.bic(Z))

    def _state_spec(self, state: dict[str, np.ndarray]) -> StateSpec:
        if self.covariance_type not in _COVARIANCE_SHAPES:
            raise InvalidInputError(
                f"covariance_type must be one of {sorted(_COVARIANCE_SHAPES)}, got {self.covariance_type!r}"
            )
        covariance = ("f", _COVARIANCE_SHAPES[self.covariance_type])
        return {
            FEATURES: ("iu", ()),
            "n_mixture_components_": ("iu", ()),
            "pca_mean_": ("f", (FEATURES,)),
            "projection_": ("f", (FEATURES, "pca")),
            "weights_": ("f", ("n_mixture_components_",)),
            "means_": ("f", ("n_mixture_components_", "pca")),
            "precisions_cholesky_": covariance,
            "covariances_": covariance,
        }

    def _restore(self) -> None:
        mixture = self._mixture(int(self.n_mixture_components_))
        mixture.weights_ = self.weights_
        mixture.means_ = self.means_
        mixture.precisions_cholesky_ = self.precisions_cholesky_
        mixture.covariances_ = self.covariances_
        mixture.n_features_in_ = self.means_.shape[1]
        self._mixture_model = mixture

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Negative log-density of each row of ``X`` (n_samples, n_features) in the whitened
        PCA space, shape (n_samples,), higher = more OOD."""
        X = self._validate_score_data(X)
        out = np.empty(X.shape[0], dtype=np.float64)
        for rows in batched(X.shape[0], self.batch_size):
            Z = (X[rows] - self.pca_mean_) @ self.projection_
            out[rows] = -self._mixture_model.score_samples(Z)
        return out
