"""Residual score: the norm of the feature outside its principal subspace.

The label-free half of ViM: Wang, Li, Feng & Zhang, "ViM: Out-Of-Distribution with
Virtual-logit Matching", CVPR 2022. "Residual" is one of the feature-space detectors
OpenMIBOOD evaluates (Gutbrod et al., "OpenMIBOOD: Open Medical Imaging Benchmarks for
Out-Of-Distribution Detection", CVPR 2025), where feature-space methods beat
probability-based ones in most settings.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fmood.errors import InvalidInputError
from fmood.scorers._gaussian import class_means, gram, gram_rows, scatter, use_gram
from fmood.scorers.base import (
    DEFAULT_BATCH_SIZE,
    FEATURES,
    BaseScorer,
    StateSpec,
    batched,
    l2_normalize,
    register,
)


def auto_subspace_dim(n_features: int) -> int:
    """ViM's rule for the principal-subspace size: 1000 for d >= 2048, 512 for d >= 768, else d/2."""
    if n_features >= 2048:
        return 1000
    if n_features >= 768:
        return 512
    return max(n_features // 2, 1)


@register
class ResidualScorer(BaseScorer):
    """Norm of ``x - mean`` after removing its projection on the top principal directions.

    In-distribution features live mostly in a low-dimensional subspace; a shifted image puts
    energy in the directions the reference never used, whatever its class.

    Parameters
    ----------
    n_components : int or "auto"
        Size of the principal subspace; "auto" follows ViM (see :func:`auto_subspace_dim`),
        capped at n_samples - 1 so the residual is not empty by construction.
    batch_size : int
    solver : {"auto", "covariance", "gram"}
        "covariance" takes the principal directions from the (d, d) covariance (O(d^3)) and
        keeps the basis of their complement (``complement_``); "gram" from the (n, n) Gram
        matrix of the centred reference (O(n^2 d)) and keeps the principal basis itself
        (``principal_``), for the same scores. "auto" takes the Gram form when there are
        fewer samples than features; it needs ``n_components`` below n_samples.
    normalize : bool
        L2-normalise features first, as Mahalanobis++ does (Mueller & Hein, ICML 2025).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,), float32
        Mean of the (normalised) reference.
    complement_ : ndarray of shape (n_features, n_features - n_components), float32
        Covariance form only: basis of the complement of the principal subspace.
    principal_ : ndarray of shape (n_features, n_components), float32
        Gram form only: basis of the principal subspace.
    n_features_in_ : int
        Number of features seen by ``fit``.

    See Also
    --------
    ResidualMahalanobisScorer : the residual scored with its own covariance.
    fmood_bench.evaluation.baselines.ViMBaseline : the full ViM score, on a linear probe's logits.

    Notes
    -----
    The residual is computed by projecting on the orthogonal complement directly (its basis
    comes from the same eigendecomposition), not as ``||x||^2 - ||Vx||^2``, which cancels
    catastrophically in float32 when the residual is small.

    References
    ----------
    Wang, Li, Feng & Zhang, "ViM: Out-Of-Distribution with Virtual-logit Matching", CVPR 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from fmood.scorers import ResidualScorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 10))  # a 3-d subspace of 10-d
    >>> scorer = ResidualScorer(n_components=3).fit(X)
    >>> scorer.complement_.shape
    (10, 7)
    >>> off = X[:1] + rng.normal(size=(1, 10))  # leaves the subspace
    >>> bool(scorer.score_samples(off)[0] > 100 * scorer.score_samples(X[:1])[0])
    True
    """

    name = "residual"
    reference = "Wang et al., ViM: Out-Of-Distribution with Virtual-logit Matching, CVPR 2022"

    def __init__(
        self,
        n_components: int | str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        solver: str = "auto",
        normalize: bool = False,
    ) -> None:
        self.n_components = n_components
        self.batch_size = batch_size
        self.solver = solver
        self.normalize = normalize

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> ResidualScorer:
        """Fit the principal subspace of ``X`` (n_samples, n_features); ``y`` is ignored."""
        X, _ = self._validate_fit_data(X, y)
        n, d = X.shape
        if n < 2:
            raise InvalidInputError(
                f"the residual scorer needs at least 2 reference samples, got {n}"
            )
        if self.normalize:
            X = l2_normalize(X)
        if self.n_components == "auto":
            dim = min(auto_subspace_dim(d), n - 1)
        elif isinstance(self.n_components, (int, np.integer)) and 0 < self.n_components < d:
            dim = int(self.n_components)
        else:
            raise InvalidInputError(
                f"n_components must be 'auto' or an int in [1, {d - 1}], got {self.n_components!r}"
            )
        means, inverse = class_means(X, None)
        self.mean_ = means[0].astype(np.float32)
        if use_gram(self.solver, n, d):
            if dim >= n:
                raise InvalidInputError(
                    f"n_components={dim} with {n} reference samples: they span at most {n - 1} "
                    f"directions, so the subspace is not defined by the data; pass "
                    f"n_components <= {n - 1} or 'auto'"
                )
            # Duplicated rows can span fewer directions; the residual is then what lies outside them.
            basis = gram(X, means, inverse, self.batch_size).basis
            self.principal_ = np.ascontiguousarray(basis[:, :dim], dtype=np.float32)
        else:
            eigvecs = np.linalg.eigh(scatter(X, means, inverse, self.batch_size).covariance)[1]
            self.complement_ = np.ascontiguousarray(eigvecs[:, : d - dim], dtype=np.float32)
        self.n_features_in_ = d
        return self

    def _state_spec(self, state: dict[str, np.ndarray]) -> StateSpec:
        spec: StateSpec = {FEATURES: ("iu", ()), "mean_": ("f", (FEATURES,))}
        if "complement_" in state:
            return {**spec, "complement_": ("f", (FEATURES, "complement"))}
        return {**spec, "principal_": ("f", (FEATURES, "components"))}

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Norm of each row of ``X`` (n_samples, n_features) outside the principal subspace,
        shape (n_samples,), higher = more OOD."""
        X = self._validate_score_data(X)
        out = np.empty(X.shape[0], dtype=np.float64)
        if hasattr(self, "complement_"):
            for rows in batched(X.shape[0], self.batch_size):
                out[rows] = np.linalg.norm(
                    (self._rows(X, rows) - self.mean_) @ self.complement_, axis=1
                )
            return out
        # Gram form: subtract the projection in float64, which keeps small residuals exact.
        principal = self.principal_.astype(np.float64)
        for rows in batched(X.shape[0], gram_rows(self.batch_size, X.shape[1])):
            centred = self._rows(X, rows) - self.mean_.astype(np.float64)
            out[rows] = np.linalg.norm(centred - (centred @ principal) @ principal.T, axis=1)
        return out

    def _rows(self, X: np.ndarray, rows: slice) -> np.ndarray:
        """``X[rows]``, L2-normalised when ``normalize`` is set."""
        return l2_normalize(X[rows]) if self.normalize else X[rows]
