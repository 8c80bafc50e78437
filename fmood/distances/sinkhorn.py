"""Entropic optimal-transport cost between two sets (Sinkhorn distance).

Cuturi, "Sinkhorn distances: lightspeed computation of optimal transport", NeurIPS 2013;
log-domain iterations: Peyré & Cuturi, "Computational optimal transport", 2019, Sec. 4.4.
Solver: POT (Flamary et al., JMLR 2021).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fmood._validation import check_positive_int
from fmood.distances._pairwise import median_offdiagonal, squared_distances
from fmood.distances.base import PairDistance, check_pair, check_positive_float

# Plain Sinkhorn works on exp(-M / reg); in float64 that stays far from underflow while the
# cost range over reg is below ~200 (exp(-200) ~ 1e-87). Beyond, iterate in the log domain.
_PLAIN_RANGE_LIMIT = 200.0


def sinkhorn_cost(
    A: ArrayLike,
    B: ArrayLike,
    *,
    reg: float = 0.05,
    scale: float | None = None,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> float:
    """Entropic OT cost ``<P, M>`` of uniform weights on ``A`` and ``B``.

    ``M_ij = |a_i - b_j|^2 / scale`` and ``P`` is the entropic plan of regularisation
    ``reg`` (``ot.sinkhorn2``). Dividing by ``scale`` makes both ``reg`` and the result
    unit-free.

    Parameters
    ----------
    A : array-like of shape (n_a, n_features), n_a >= 2
    B : array-like of shape (n_b, n_features), n_b >= 2
    reg : float
        Entropic regularisation, relative to ``scale``. Smaller is closer to exact OT
        (``ot.emd2``) and slower to converge.
    scale : float, optional
        Default: the median squared distance between distinct rows of the *reference* ``A``,
        so that values for several targets against one reference share a unit.
    max_iter, tol : int, float
        Sinkhorn iteration limit and stopping threshold on the marginal error.

    Returns
    -------
    float >= 0
        In units of ``scale``. Not zero for two samples of one distribution (transport cost
        between distinct points, plus entropic blur).
    """
    A, B = check_pair(A, B)
    statistic = Sinkhorn(
        A, B, rng=np.random.default_rng(0), reg=reg, scale=scale, max_iter=max_iter, tol=tol
    )
    return statistic.value


class Sinkhorn(PairDistance):
    """Entropic OT cost (see :func:`sinkhorn_cost`).

    The (n_a, n_b) cost matrix is computed once; a bootstrap replicate solves on its
    resampled rows and columns. ``scale`` is resolved on the first pair and then kept for
    the replicates and the null level. Costs ``O(n_a n_b)`` memory and per iteration, hence
    the default cap of 1,000 rows per side in ``dataset_distance``.

    Parameters
    ----------
    A : ndarray of shape (n_a, n_features)
    B : ndarray of shape (n_b, n_features)
    rng : Generator
        Unused; part of the common constructor.
    reg, scale, max_iter, tol
        As in :func:`sinkhorn_cost`.
    """

    name = "sinkhorn"
    reference = "Cuturi, Sinkhorn distances, NeurIPS 2013; POT"
    default_max_samples = 1000

    def __init__(
        self,
        A: np.ndarray,
        B: np.ndarray,
        *,
        rng: np.random.Generator,
        reg: float = 0.05,
        scale: float | None = None,
        max_iter: int = 1000,
        tol: float = 1e-6,
    ) -> None:
        self._reg = check_positive_float(reg, "reg")
        self._max_iter = check_positive_int(max_iter, "max_iter")
        self._tol = check_positive_float(tol, "tol")
        if scale is None:
            scale = median_offdiagonal(squared_distances(A))
        scale = check_positive_float(scale, "scale")
        self._M = squared_distances(A, B).astype(np.float64)
        self._M /= scale
        self.value = self._solve(self._M)
        self.params = {
            "reg": self._reg,
            "scale": scale,
            "max_iter": self._max_iter,
            "tol": self._tol,
        }
        self.extra = {}

    def resample(self, idx_a: np.ndarray, idx_b: np.ndarray) -> float:
        return self._solve(self._M[np.ix_(idx_a, idx_b)])

    def _solve(self, M: np.ndarray) -> float:
        # Adding a constant to every cost leaves the plan unchanged (the marginals absorb it)
        # and adds that constant to <P, M>; removing the minimum keeps exp(-M / reg) in range.
        offset = float(M.min())
        shifted = M - offset
        method = "sinkhorn" if shifted.max() / self._reg <= _PLAIN_RANGE_LIMIT else "sinkhorn_log"
        a = np.full(M.shape[0], 1.0 / M.shape[0])
        b = np.full(M.shape[1], 1.0 / M.shape[1])
        import ot  # POT imports torch (~3 s): paid only when this distance runs

        cost = ot.sinkhorn2(
            a,
            b,
            shifted,
            self._reg,
            method=method,
            numItermax=self._max_iter,
            stopThr=self._tol,
            warn=True,
        )
        return float(cost) + offset
