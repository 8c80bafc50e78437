"""Deep nearest-neighbour score.

Sun, Ming, Zhu & Li, "Out-of-Distribution Detection with Deep Nearest Neighbors", ICML 2022.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fmood._validation import check_positive_int
from fmood.errors import InvalidInputError
from fmood.scorers.base import (
    DEFAULT_BATCH_SIZE,
    FEATURES,
    BaseScorer,
    StateSpec,
    l2_normalize,
    register,
)
from fmood.utils.index import build_index, search, to_device, train_and_add


@register
class KNNScorer(BaseScorer):
    """Distance to the k-th nearest in-distribution neighbour of L2-normalised features.

    Parameters
    ----------
    k : int
        Neighbour rank. The paper uses 50 for CIFAR-10 (50,000 training images) and 1,000 for
        ImageNet; smaller references want smaller k.
    aggregate : {"kth", "mean"}
        ``"kth"`` is the paper's score (distance to the k-th neighbour); ``"mean"`` averages the
        distances to the k nearest, which is smoother on small references.
    normalize : bool
        L2-normalise features first (the paper's choice: distances then compare directions).
    index : str
        FAISS index-factory string. ``"Flat"`` is exact; ``"HNSW32"`` or ``"IVF1024,Flat"`` trade
        a little recall for speed on large references.
    nprobe, ef_search : int, optional
        Search breadth of IVF and HNSW indexes (FAISS's defaults when None).
    batch_size : int
        Queries per search call; bounds memory at ``batch_size * k`` results.
    device : {"auto", "cpu", "cuda"}
        Where the index searches; ``"auto"`` uses a GPU when faiss was built with one.

    Attributes
    ----------
    reference_ : ndarray of shape (n_reference, n_features), float32
        The fitted embeddings (L2-normalised with ``normalize``), indexed for the search.
    n_features_in_ : int
        Number of features seen by ``fit``.

    See Also
    --------
    fmood_bench.evaluation.baselines.KNNBaseline : pytorch-ood's implementation, same scores.
    MahalanobisScorer : distance to class means under a shared covariance.

    Notes
    -----
    Distances are Euclidean (not squared), so with ``normalize=True`` they lie in [0, 2] and
    equal ``sqrt(2 - 2 cos)``. pytorch-ood's ``KNN`` gives the same numbers for
    ``aggregate="kth"``.

    References
    ----------
    Sun, Ming, Zhu & Li, "Out-of-Distribution Detection with Deep Nearest Neighbors",
    ICML 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from fmood.scorers import KNNScorer
    >>> X = np.random.default_rng(0).normal(size=(100, 8))
    >>> scorer = KNNScorer(k=5).fit(X)
    >>> scores = scorer.score_samples(np.vstack([X[:2], X[:2] + 10]))
    >>> scores.shape, bool(scores[2:].min() > scores[:2].max())
    ((4,), True)
    """

    name = "knn"
    _caches = ("_index",)
    reference = "Sun et al., Out-of-Distribution Detection with Deep Nearest Neighbors, ICML 2022"

    def __init__(
        self,
        k: int = 50,
        aggregate: str = "kth",
        normalize: bool = True,
        index: str = "Flat",
        nprobe: int | None = None,
        ef_search: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str = "auto",
    ) -> None:
        self.k = k
        self.aggregate = aggregate
        self.normalize = normalize
        self.index = index
        self.nprobe = nprobe
        self.ef_search = ef_search
        self.batch_size = batch_size
        self.device = device

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> KNNScorer:
        """Index the in-distribution embeddings ``X`` (n_samples, n_features); ``y`` is ignored."""
        X, _ = self._validate_fit_data(X, y)
        self.reference_ = l2_normalize(X) if self.normalize else X
        self._restore()
        self.n_features_in_ = X.shape[1]
        return self

    def _state_spec(self, state: dict[str, np.ndarray]) -> StateSpec:
        return {FEATURES: ("iu", ()), "reference_": ("f", ("reference", FEATURES))}

    def _restore(self) -> None:
        k = check_positive_int(self.k, "k")
        if self.aggregate not in ("kth", "mean"):
            raise InvalidInputError(f"aggregate must be 'kth' or 'mean', got {self.aggregate!r}")
        if k > self.reference_.shape[0]:
            n = self.reference_.shape[0]
            raise InvalidInputError(f"k={k} exceeds the {n} reference samples; pass k <= {n}")
        index = build_index(self.reference_.shape[1], self.index, "l2")
        train_and_add(index, self.reference_)
        self._index = to_device(index, self.device)

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Distance of each row of ``X`` (n_samples, n_features) to its k-th (or k nearest)
        reference neighbour(s), shape (n_samples,), higher = more OOD."""
        return self.kneighbors(X)[0]

    def kneighbors(self, X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Scores and the ids of the k nearest reference samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        ids : ndarray of shape (n_samples, k), int64, nearest first (rows of the fitted ``X``)
        """
        X = self._validate_score_data(X)
        queries = l2_normalize(X) if self.normalize else X
        squared, ids = search(
            self._index,
            queries,
            int(self.k),
            batch_size=self.batch_size,
            nprobe=self.nprobe,
            ef_search=self.ef_search,
        )
        dist = np.sqrt(np.maximum(squared, 0.0, dtype=np.float32))
        scores = dist[:, -1] if self.aggregate == "kth" else dist.mean(axis=1)
        return scores.astype(np.float64), ids
