"""Mahalanobis distance on the PCA residual: the residual scored with its own covariance.

After MaRS: Di Salvo, Doerrich & Ledig, "MaRS: Robust Out-of-Distribution Detection via
Mahalanobis Residual Scoring", MICCAI 2026 (arXiv:2606.22649). MaRS trains a small autoencoder
on in-distribution embeddings and scores the Mahalanobis distance of its reconstruction
residuals, arguing that the L2 residual norm (ViM's residual, :mod:`fmood.scorers.residual`)
collapses the anisotropic structure of the residual. Here the autoencoder is the optimal linear
one, the top principal subspace (Baldi & Hornik 1989), so the fit is closed-form and
deterministic.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fmood.errors import InvalidInputError
from fmood.scorers._gaussian import (
    Gram,
    Moments,
    class_means,
    gram,
    gram_rows,
    low_rank_whitener,
    scatter,
    use_gram,
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


@register
class ResidualMahalanobisScorer(BaseScorer):
    """Squared Mahalanobis distance of ``x - mean`` outside its top principal subspace.

    The reference's centred rows are split into their projection on the top ``k`` principal
    directions (discarded, as a linear autoencoder's reconstruction) and the residual on the
    ``d - k`` remaining ones. The residual's covariance there is diagonal in the remaining
    principal directions, with the discarded eigenvalues; it is shrunk toward a scaled identity
    of dimension ``d - k`` (Ledoit-Wolf by default) and the score is the residual's squared
    Mahalanobis distance under it. With ``shrinkage=1.0`` the score is the squared residual
    norm of :class:`~fmood.scorers.residual.ResidualScorer` divided by a constant.

    What MaRS reports: label-free, it beats confidence-, distance- (kNN, Mahalanobis) and
    reconstruction-based (L2 residual) detectors across three imaging modalities and several
    shift types; its autoencoder is non-linear, this scorer's is linear (PCA).

    Parameters
    ----------
    n_components : int or float
        Size ``k`` of the principal subspace: an int in [1, rank - 1], or a float in (0, 1),
        the smallest ``k`` whose directions explain that share of the variance.
    shrinkage : "ledoit-wolf", "oas", float or None
        Shrinkage of the residual covariance toward a scaled identity.
    normalize : bool
        L2-normalise features first (Mahalanobis++, Mueller & Hein, ICML 2025).
    batch_size : int
    solver : {"auto", "covariance", "gram"}
        "covariance" takes the principal directions from the (d, d) covariance (O(d^3)) and
        keeps the ``d - k`` residual directions; "gram" from the (n, n) Gram matrix of the
        centred reference (O(n^2 d)) and keeps the spanned ones (``principal_``,
        ``residual_basis_``), the unspanned rest scored with one shared variance
        (``outside_scale_``), for the same scores. "auto" takes the Gram form when n < d.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    residual_basis_ : ndarray of shape (n_features, m)
        Residual principal directions (all ``d - k`` of them in the covariance form).
    residual_scale_ : ndarray of shape (m,)
        Inverse square roots of their shrunk variances.
    principal_ : ndarray of shape (n_features, k)
        Gram form only: the discarded principal directions.
    outside_scale_ : float
        Gram form only: inverse square root of the shrunk variance outside the reference's span.
    n_features_in_ : int
        Number of features seen by ``fit``.

    See Also
    --------
    ResidualScorer : the L2 norm of the same residual.
    MahalanobisScorer : the Mahalanobis distance in the whole feature space.

    References
    ----------
    Di Salvo, Doerrich & Ledig, "MaRS: Robust Out-of-Distribution Detection via Mahalanobis
    Residual Scoring", MICCAI 2026 (arXiv:2606.22649). Baldi & Hornik, "Neural networks and
    principal component analysis", Neural Networks 1989 (PCA as the optimal linear
    autoencoder).

    Examples
    --------
    >>> import numpy as np
    >>> from fmood.scorers import ResidualMahalanobisScorer
    >>> X = np.random.default_rng(0).normal(size=(300, 10)) * np.linspace(3, 0.1, 10)
    >>> scorer = ResidualMahalanobisScorer(n_components=4).fit(X)
    >>> scorer.residual_basis_.shape
    (10, 6)
    >>> far = X[:1].copy()
    >>> far[0, -1] += 2.0  # along the least-spread direction
    >>> bool(scorer.score_samples(far)[0] > scorer.score_samples(X[:1])[0])
    True
    """

    name = "residual_mahalanobis"
    reference = (
        "MaRS: Di Salvo, Doerrich & Ledig, MICCAI 2026 (arXiv:2606.22649), linear-autoencoder form"
    )

    def __init__(
        self,
        n_components: float = 0.9,
        shrinkage: str | float | None = "ledoit-wolf",
        normalize: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        solver: str = "auto",
    ) -> None:
        self.n_components = n_components
        self.shrinkage = shrinkage
        self.normalize = normalize
        self.batch_size = batch_size
        self.solver = solver

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> ResidualMahalanobisScorer:
        """Fit the principal subspace of ``X`` (n_samples, n_features) and the covariance of
        the residual; ``y`` is ignored."""
        X, _ = self._validate_fit_data(X, y)
        n, d = X.shape
        if n < 3:
            raise InvalidInputError(
                f"the residual Mahalanobis scorer needs at least 3 reference samples, got {n}"
            )
        if self.normalize:
            X = l2_normalize(X)
        means, inverse = class_means(X, None)
        wide = use_gram(self.solver, n, d)
        if wide:
            spectrum = gram(X, means, inverse, self.batch_size)
            eigvals, basis = spectrum.eigvals, spectrum.basis
        else:
            eigvals, basis = np.linalg.eigh(scatter(X, means, inverse, self.batch_size).covariance)
            eigvals, basis = np.maximum(eigvals[::-1], 0.0), basis[:, ::-1]
        k = self._subspace_dim(eigvals)
        residual_basis = basis[:, k:]
        # The centred reference lies in the span of ``basis``: its residual is all on ``residual_basis``.
        fourth = 0.0
        for rows in batched(n, gram_rows(self.batch_size, d)):
            coords = (X[rows].astype(np.float64) - means[0]) @ residual_basis
            fourth += float(np.sum(np.einsum("ij,ij->i", coords, coords) ** 2))
        kept = eigvals[k:]
        moments = Moments(float(kept.sum()), float(np.sum(kept**2)), fourth, n, d - k)
        scale, outside = low_rank_whitener(Gram(kept, residual_basis, moments), self.shrinkage)
        self.mean_ = means[0].astype(np.float32)
        self.residual_basis_ = np.ascontiguousarray(residual_basis, dtype=np.float32)
        self.residual_scale_ = scale
        if wide:
            self.principal_ = np.ascontiguousarray(basis[:, :k], dtype=np.float32)
            self.outside_scale_ = outside
        self.n_features_in_ = d
        return self

    def _subspace_dim(self, eigvals: np.ndarray) -> int:
        """``k`` from ``n_components`` and the covariance eigenvalues (descending)."""
        rank = int(np.count_nonzero(eigvals > 0))
        value = self.n_components
        if isinstance(value, (float, np.floating)) and 0.0 < value < 1.0:
            explained = np.cumsum(eigvals) / eigvals.sum()
            k = int(np.searchsorted(explained, value) + 1)
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
            k = int(value)
        else:
            raise InvalidInputError(
                f"n_components must be an int >= 1 or a float in (0, 1), got {value!r}"
            )
        if k >= rank:
            raise InvalidInputError(
                f"a principal subspace of {k} directions leaves no residual variance: the "
                f"reference spans {rank}; pass n_components < {rank} or a smaller variance share"
            )
        return k

    def _state_spec(self, state: dict[str, np.ndarray]) -> StateSpec:
        spec: StateSpec = {
            FEATURES: ("iu", ()),
            "mean_": ("f", (FEATURES,)),
            "residual_basis_": ("f", (FEATURES, "residual")),
            "residual_scale_": ("f", ("residual",)),
        }
        if "principal_" in state or "outside_scale_" in state:
            return {
                **spec,
                "principal_": ("f", (FEATURES, "components")),
                "outside_scale_": ("f", ()),
            }
        return spec

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Squared Mahalanobis distance of the residual of each row of ``X``
        (n_samples, n_features), shape (n_samples,), higher = more OOD."""
        X = self._validate_score_data(X)
        out = np.empty(X.shape[0], dtype=np.float64)
        mean = self.mean_.astype(np.float64)
        residual_basis = self.residual_basis_.astype(np.float64)
        principal = self.principal_.astype(np.float64) if hasattr(self, "principal_") else None
        for rows in batched(X.shape[0], gram_rows(self.batch_size, X.shape[1])):
            chunk = l2_normalize(X[rows]) if self.normalize else X[rows]
            centred = chunk.astype(np.float64) - mean
            coords = centred @ residual_basis
            out[rows] = np.sum(np.square(coords * self.residual_scale_), axis=1)
            if principal is not None:
                # Float64 subtraction keeps a small out-of-span residual exact.
                outside = centred - (centred @ principal) @ principal.T - coords @ residual_basis.T
                out[rows] += self.outside_scale_**2 * np.sum(np.square(outside), axis=1)
        return out
