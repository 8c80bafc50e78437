"""Mahalanobis distance to the nearest class mean under a shared covariance.

Lee, Lee, Lee & Shin, "A Simple Unified Framework for Detecting Out-of-Distribution Samples and
Adversarial Attacks", NeurIPS 2018; Mahalanobis++: Mueller & Hein, "Mahalanobis++: Improving OOD
Detection via Feature Normalization", ICML 2025.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fmood.errors import InvalidInputError
from fmood.scorers._gaussian import (
    class_means,
    gram,
    gram_rows,
    low_rank_whitener,
    scatter,
    shrunk_covariance,
    use_gram,
    whitener,
)
from fmood.scorers.base import (
    DEFAULT_BATCH_SIZE,
    FEATURES,
    BaseScorer,
    StateSpec,
    batched,
    l2_normalize,
    register,
)
from fmood.utils.index import build_index, search, train_and_add


@register
class MahalanobisScorer(BaseScorer):
    """Squared Mahalanobis distance to the closest class mean, shared (pooled) covariance.

    Without labels there is one class (a single Gaussian around the mean). With labels ``y``
    the covariance is pooled within classes, as in Lee et al. Memory is O(d^2 + n_classes * d),
    or O(n * d) in the Gram form used when n < d: no per-class covariance is ever formed, so
    1,000 classes x 1,024 dimensions fit easily, and so do 60 samples x 16,384 dimensions.

    Parameters
    ----------
    shrinkage : "ledoit-wolf", "oas", float or None
        Covariance shrinkage toward a scaled identity; needed when n is not much larger than d.
    normalize : bool
        L2-normalise features first: Mahalanobis++ (Mueller & Hein 2025), which removes the
        feature-norm variation that breaks the Gaussian assumption of many backbones.
    batch_size : int
        Rows per chunk when scoring.
    solver : {"auto", "covariance", "gram"}
        "covariance" whitens with the eigendecomposition of the (d, d) covariance (O(d^3),
        ``whitener_``); "gram" with that of the (n, n) Gram matrix of the centred reference
        (O(n^2 d), ``basis_``, ``basis_scale_`` and ``complement_scale_``), which gives the same
        scores. "auto" takes the Gram form when there are fewer samples than features.

    Attributes
    ----------
    means_ : ndarray of shape (n_classes, n_features), float32
        Class means (one row without labels).
    whitener_ : ndarray of shape (n_features, n_features), float32
        Covariance form only: ``||x W||^2`` is the squared Mahalanobis norm of ``x``.
    basis_ : ndarray of shape (n_features, rank), float32
        Gram form only: the covariance eigenvectors the reference spans.
    basis_scale_ : ndarray of shape (rank,), float64
        Gram form only: inverse square roots of their shrunk variances.
    complement_scale_ : float
        Gram form only: inverse square root of the shrunk variance outside the span.
    n_features_in_ : int
        Number of features seen by ``fit``.

    See Also
    --------
    RelativeMahalanobisScorer : minus the distance under one background Gaussian.
    ResidualMahalanobisScorer : the same distance outside the principal subspace.
    fmood_bench.evaluation.baselines.MahalanobisBaseline : pytorch-ood's implementation.

    Notes
    -----
    pytorch-ood's ``Mahalanobis`` returns ``0.5 * d^2 / n`` (its covariance is the unnormalised
    scatter matrix); ``shrinkage=None`` here gives ``d^2`` from the divisor-n covariance, a
    constant factor apart, so rankings and AUROC agree.

    References
    ----------
    Lee, Lee, Lee & Shin, "A Simple Unified Framework for Detecting Out-of-Distribution Samples
    and Adversarial Attacks", NeurIPS 2018. Mueller & Hein, "Mahalanobis++: Improving OOD
    Detection via Feature Normalization", ICML 2025.

    Examples
    --------
    >>> import numpy as np
    >>> from fmood.scorers import MahalanobisScorer
    >>> X = np.random.default_rng(0).normal(size=(200, 8))
    >>> scorer = MahalanobisScorer().fit(X)
    >>> scorer.means_.shape, scorer.whitener_.shape
    ((1, 8), (8, 8))
    >>> bool(scorer.score_samples(X[:1] + 5)[0] > scorer.score_samples(X[:1])[0])
    True
    """

    name = "mahalanobis"
    reference = "Lee et al., NeurIPS 2018; Mahalanobis++: Mueller & Hein, ICML 2025"
    uses_labels = True

    def __init__(
        self,
        shrinkage: str | float | None = "ledoit-wolf",
        normalize: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        solver: str = "auto",
    ) -> None:
        self.shrinkage = shrinkage
        self.normalize = normalize
        self.batch_size = batch_size
        self.solver = solver

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> MahalanobisScorer:
        """Fit the class means and the shared covariance on ``X`` (n_samples, n_features).

        ``y`` (n_samples,), optional: class labels; without them, one Gaussian.
        """
        X, y = self._validate_fit_data(X, y)
        if X.shape[0] < 2:
            raise InvalidInputError(
                f"Mahalanobis needs at least 2 reference samples, got {X.shape[0]}"
            )
        if self.normalize:
            X = l2_normalize(X)
        means, inverse = class_means(X, y)
        if use_gram(self.solver, *X.shape):
            spectrum = gram(X, means, inverse, self.batch_size)
            scale, outside = low_rank_whitener(spectrum, self.shrinkage)
            self.basis_ = spectrum.basis.astype(np.float32)
            self.basis_scale_ = scale
            self.complement_scale_ = outside
        else:
            spread = scatter(X, means, inverse, self.batch_size)
            self.whitener_ = whitener(shrunk_covariance(spread, self.shrinkage))
        self.means_ = means.astype(np.float32)
        self._restore()
        self.n_features_in_ = X.shape[1]
        return self

    def _state_spec(self, state: dict[str, np.ndarray]) -> StateSpec:
        spec: StateSpec = {FEATURES: ("iu", ()), "means_": ("f", ("classes", FEATURES))}
        if "whitener_" in state:
            return {**spec, "whitener_": ("f", (FEATURES, FEATURES))}
        return {
            **spec,
            "basis_": ("f", (FEATURES, "rank")),
            "basis_scale_": ("f", ("rank",)),
            "complement_scale_": ("f", ()),
        }

    _caches = ("_white_means", "_index")

    def _restore(self) -> None:
        # Nearest class mean in whitened space is an exact 1-NN search over the means.
        self._white_means = self._whiten(self.means_).astype(np.float32)
        self._index = None
        if self.means_.shape[0] > 1:
            self._index = build_index(self._white_means.shape[1], "Flat", "l2")
            train_and_add(self._index, self._white_means)

    def _whiten(self, X: np.ndarray) -> np.ndarray:
        """Rows mapped so that squared distances are Mahalanobis distances.

        Shape (n, d), float32, with ``whitener_``; (n, rank + d), float64, in the Gram form:
        the whitened coordinates on the basis, then the scaled residual outside it.
        """
        if hasattr(self, "whitener_"):
            return X @ self.whitener_
        X = X.astype(np.float64)
        basis = self.basis_.astype(np.float64)
        coords = X @ basis
        outside = (X - coords @ basis.T) * self.complement_scale_
        return np.hstack([coords * self.basis_scale_, outside])

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Squared Mahalanobis distance of each row of ``X`` (n_samples, n_features) to the
        closest class mean, shape (n_samples,), higher = more OOD."""
        X = self._validate_score_data(X)
        out = np.empty(X.shape[0], dtype=np.float64)
        # The Gram form whitens in float64 to (rows, rank + d): fewer rows keep it bounded.
        chunk_rows = (
            self.batch_size
            if hasattr(self, "whitener_")
            else gram_rows(self.batch_size, X.shape[1])
        )
        for rows in batched(X.shape[0], chunk_rows):
            chunk = l2_normalize(X[rows]) if self.normalize else X[rows]
            if self._index is None:
                # One class: subtract first, no cancellation between large squared norms.
                if hasattr(self, "whitener_"):
                    white = chunk @ self.whitener_ - self._white_means[0]
                else:
                    white = self._whiten(chunk - self.means_[0])
                out[rows] = np.sum(np.square(white), axis=1)
            else:
                white = self._whiten(chunk).astype(np.float32, copy=False)
                out[rows] = search(self._index, white, 1)[0][:, 0]
        return out
