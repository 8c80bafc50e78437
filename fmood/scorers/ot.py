"""Per-sample optimal-transport score: each sample's cost in an entropic transport plan.

Entropic OT: Cuturi, "Sinkhorn Distances", NeurIPS 2013; semi-relaxed (unbalanced) marginals:
Chizat, Peyré, Schmitzer & Vialard, "Scaling algorithms for unbalanced optimal transport
problems", Math. Comp. 2018; solver: POT (Flamary et al., JMLR 2021). Batch-level OT as an OOD
signal follows e.g. Lu et al., "Out-of-distribution Detection via Optimal Transport"
(ICCV 2023).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fmood._validation import check_positive_int
from fmood.errors import InvalidInputError
from fmood.scorers.base import FEATURES, BaseScorer, StateSpec, batched, l2_normalize, register


@register
class OTScorer(BaseScorer):
    """Transport cost per unit mass of each sample when a batch is moved onto the reference.

    A batch of samples (uniform mass) is transported onto a subsample of the reference with an
    entropic plan whose source marginal is exact and whose reference marginal is softly
    enforced (KL penalty ``reg_m``). Sample i's score is ``sum_j P_ij C_ij / a_i``: the mean
    squared distance its mass travels.

    What it adds to KNN: the reference marginal makes samples compete for reference mass.
    In a batch that covers the reference the way in-distribution data does, each sample is
    matched to its own neighbourhood and the score behaves like a soft nearest-neighbour
    distance. When a whole batch crowds one region of the reference (a site that only sends one
    kind of scan, an over-represented artifact), the plan must send part of that mass further
    away, and the crowding raises every member's score. It therefore sees shifts in
    *proportions* that are invisible to pointwise scores.

    The price is that a score depends on the batch it was computed in. A single image scored
    alone is maximally "crowded" (its unit mass must spread over the reference) and scores
    high; score a target dataset as one batch (chunks of ``batch_size``), as the calibration
    set is, and compare only batches of similar size and diversity.

    Parameters
    ----------
    reg : float
        Entropic regularisation, relative to the median squared distance within the reference.
    reg_m : float
        KL penalty on the reference marginal; ``inf`` gives balanced OT, small values let each
        sample go to its nearest reference points regardless of crowding.
    max_reference : int
        Reference samples kept (random subsample): the plan is (batch_size, max_reference).
    normalize : bool
        L2-normalise features first.
    batch_size : int
        Samples transported together.
    random_state : int

    Attributes
    ----------
    reference_ : ndarray of shape (n_kept, n_features), float32
        The reference subsample (L2-normalised with ``normalize``), at most
        ``max_reference`` rows.
    cost_scale_ : float
        Median squared distance within the reference: the unit of the transport cost.
    n_features_in_ : int
        Number of features seen by ``fit``.

    See Also
    --------
    KNNScorer : the pointwise nearest-neighbour distance this score softens.
    fmood.distances.sinkhorn.Sinkhorn : the dataset-level entropic transport cost.

    References
    ----------
    Cuturi, "Sinkhorn Distances: Lightspeed Computation of Optimal Transport", NeurIPS 2013.
    Chizat, Peyré, Schmitzer & Vialard, "Scaling algorithms for unbalanced optimal transport
    problems", Math. Comp. 2018. Flamary et al., "POT: Python Optimal Transport", JMLR 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from fmood.scorers import OTScorer
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> scorer = OTScorer(max_reference=50).fit(X)
    >>> scorer.reference_.shape
    (50, 5)
    >>> scores = scorer.score_samples(np.vstack([X[:10], X[:10] + 3]))
    >>> bool(scores[10:].mean() > scores[:10].mean())
    True
    """

    name = "ot"
    reference = "Entropic semi-relaxed OT (Cuturi 2013; Chizat et al. 2018) via POT"

    def __init__(
        self,
        reg: float = 0.05,
        reg_m: float = 1.0,
        max_reference: int = 2000,
        normalize: bool = True,
        batch_size: int = 1024,
        random_state: int = 0,
    ) -> None:
        self.reg = reg
        self.reg_m = reg_m
        self.max_reference = max_reference
        self.normalize = normalize
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> OTScorer:
        """Keep a subsample of ``X`` (n_samples, n_features) as the reference; ``y`` is ignored."""
        X, _ = self._validate_fit_data(X, y)
        self._check_regularisation()
        if X.shape[0] < 2:
            raise InvalidInputError(
                f"the OT scorer needs at least 2 reference samples, got {X.shape[0]}"
            )
        import ot  # POT imports torch: ~3 s, paid only when this scorer is used

        keep = check_positive_int(self.max_reference, "max_reference")
        rng = np.random.default_rng(self.random_state)
        if X.shape[0] > keep:
            X = X[np.sort(rng.choice(X.shape[0], keep, replace=False))]
        self.reference_ = l2_normalize(X) if self.normalize else X
        within = ot.dist(self.reference_, self.reference_)
        scale = float(np.median(within[np.triu_indices_from(within, k=1)]))
        # Duplicated references would give a zero scale; fall back to the mean, then to 1.
        self.cost_scale_ = scale if scale > 0 else float(within.mean()) or 1.0
        self.n_features_in_ = X.shape[1]
        return self

    def _check_regularisation(self) -> None:
        if not (self.reg > 0 and self.reg_m > 0):
            raise InvalidInputError(f"reg and reg_m must be > 0, got {self.reg}, {self.reg_m}")

    def _state_spec(self, state: dict[str, np.ndarray]) -> StateSpec:
        return {
            FEATURES: ("iu", ()),
            "reference_": ("f", ("reference", FEATURES)),
            "cost_scale_": ("f", ()),
        }

    def _restore(self) -> None:
        self._check_regularisation()
        if not self.cost_scale_ > 0:
            raise InvalidInputError(f"cost_scale_ must be > 0, got {self.cost_scale_}")

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Transport cost per unit mass of each row of ``X`` (n_samples, n_features), rows
        transported in batches of ``batch_size``, shape (n_samples,), higher = more OOD."""
        X = self._validate_score_data(X)
        X = l2_normalize(X) if self.normalize else X
        out = np.empty(X.shape[0], dtype=np.float64)
        for rows in batched(X.shape[0], int(self.batch_size)):
            out[rows] = self._transport_cost(X[rows])
        return out

    def _transport_cost(self, batch: np.ndarray) -> np.ndarray:
        """Cost per unit mass of each sample of ``batch`` under the entropic plan."""
        import ot

        cost = ot.dist(batch, self.reference_).astype(np.float64) / self.cost_scale_
        a = np.full(cost.shape[0], 1.0 / cost.shape[0])
        b = np.full(cost.shape[1], 1.0 / cost.shape[1])
        if np.isinf(self.reg_m):
            plan = ot.sinkhorn(a, b, cost, self.reg, method="sinkhorn_log")
        else:
            # Rows have a hard marginal, so a per-row constant leaves the plan unchanged;
            # removing each row's minimum keeps exp(-cost / reg) from underflowing to 0 for
            # samples far from every reference point.
            shifted = cost - cost.min(axis=1, keepdims=True)
            plan = ot.unbalanced.sinkhorn_unbalanced(
                a, b, shifted, self.reg, (float("inf"), self.reg_m), method="sinkhorn"
            )
        return (plan * cost).sum(axis=1) / a * self.cost_scale_
