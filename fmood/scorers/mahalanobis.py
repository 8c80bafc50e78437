"""Mahalanobis distance to the nearest class mean under a shared covariance.

Lee, Lee, Lee & Shin, "A Simple Unified Framework for Detecting Out-of-Distribution Samples and
Adversarial Attacks", NeurIPS 2018; Mahalanobis++: Mueller & Hein, "Mahalanobis++: Improving OOD
Detection via Feature Normalization", ICML 2025.
"""
from __future__ import annotations

import numpy as np

from fmood.errors import InvalidInputError
from fmood.scorers._gaussian import class_means, scatter, shrunk_covariance, whitener
from fmood.scorers.base import DEFAULT_BATCH_SIZE, BaseScorer, batched, l2_normalize, register
from fmood.store.index import build_index, search, train_and_add


@register
class MahalanobisScorer(BaseScorer):
    """Squared Mahalanobis distance to the closest class mean, shared (pooled) covariance.

    Without labels there is one class (a single Gaussian around the mean). With labels ``y``
    the covariance is pooled within classes, as in Lee et al. Memory is O(d^2 + n_classes * d):
    no per-class covariance is ever formed, so 1,000 classes x 1,024 dimensions fit easily.

    Parameters
    ----------
    shrinkage : "ledoit-wolf", "oas", float or None
        Covariance shrinkage toward a scaled identity; needed when n is not much larger than d.
    normalize : bool
        L2-normalise features first: Mahalanobis++ (Mueller & Hein 2025), which removes the
        feature-norm variation that breaks the Gaussian assumption of many backbones.
    batch_size : int
        Rows per chunk when scoring.

    Notes
    -----
    pytorch-ood's ``Mahalanobis`` returns ``0.5 * d^2 / n`` (its covariance is the unnormalised
    scatter matrix); ``shrinkage=None`` here gives ``d^2`` from the divisor-n covariance, a
    constant factor apart, so rankings and AUROC agree.
    """

    name = "mahalanobis"
    reference = "Lee et al., NeurIPS 2018; Mahalanobis++: Mueller & Hein, ICML 2025"
    uses_labels = True

    def __init__(
        self,
        shrinkage: str | float | None = "ledoit-wolf",
        normalize: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.shrinkage = shrinkage
        self.normalize = normalize
        self.batch_size = batch_size

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        if X.shape[0] < 2:
            raise InvalidInputError(
                f"Mahalanobis needs at least 2 reference samples, got {X.shape[0]}"
            )
        if self.normalize:
            X = l2_normalize(X)
        means, inverse = class_means(X, y)
        spread = scatter(X, means, inverse, self.batch_size)
        self.whitener_ = whitener(shrunk_covariance(spread, self.shrinkage))
        self.means_ = means.astype(np.float32)
        self._restore()

    def _restore(self) -> None:
        # Nearest class mean in whitened space is an exact 1-NN search over the means.
        self._white_means = self.means_ @ self.whitener_
        self._index = None
        if self.means_.shape[0] > 1:
            self._index = build_index(self._white_means.shape[1], "Flat", "l2")
            train_and_add(self._index, self._white_means)

    def _score(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape[0], dtype=np.float64)
        for rows in batched(X.shape[0], self.batch_size):
            chunk = l2_normalize(X[rows]) if self.normalize else X[rows]
            white = chunk @ self.whitener_
            if self._index is None:
                # One class: subtract first, no cancellation between large squared norms.
                out[rows] = np.sum(np.square(white - self._white_means[0]), axis=1)
            else:
                out[rows] = search(self._index, white, 1)[0][:, 0]
        return out
