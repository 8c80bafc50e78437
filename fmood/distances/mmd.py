"""Unbiased squared maximum mean discrepancy with an RBF kernel, and its permutation test.

Gretton, Borgwardt, Rasch, Schölkopf & Smola, "A kernel two-sample test", JMLR 13, 2012
(U-statistic MMD^2_u, Lemma 6; permutation null). Median heuristic: ibid., Section 8.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fmood._validation import check_positive_int
from fmood.distances._pairwise import median_offdiagonal, squared_distances
from fmood.distances.base import PairDistance, check_pair, check_positive_float
from fmood.distances.resampling import group_members
from fmood.errors import InvalidInputError

# The kernel matrix of the pooled sample is held in memory (float32, 4 N^2 bytes):
# 30,000 pooled rows is 3.6 GB. Beyond that, subsample (``max_samples``).
_MAX_POOLED = 30_000
# Permutations evaluated per matrix product: bounds the (N, 2 * batch) work array.
_PERMUTATION_BATCH = 64


def mmd2_unbiased(A: ArrayLike, B: ArrayLike, bandwidth: float | None = None) -> float:
    """Unbiased MMD^2 between ``A`` and ``B`` with kernel ``exp(-|x - y|^2 / (2 sigma^2))``.

    Parameters
    ----------
    A : array-like of shape (n_a, n_features), n_a >= 2
    B : array-like of shape (n_b, n_features), n_b >= 2
    bandwidth : float, optional
        ``sigma``. Default: the median heuristic, ``sigma^2`` = median of the squared
        Euclidean distances over all distinct pairs of the pooled sample ``[A; B]``.

    Returns
    -------
    float
        Can be slightly negative: the estimator is unbiased, so under the null it scatters
        around 0.
    """
    A, B = check_pair(A, B)
    return MMD(A, B, rng=np.random.default_rng(0), bandwidth=bandwidth).value


class MMD(PairDistance):
    """Unbiased MMD^2 (see :func:`mmd2_unbiased`) with a permutation p-value.

    The pooled kernel matrix is computed once; the value, the bootstrap replicates and the
    permutations are all quadratic forms of it with count vectors, so a replicate costs a
    matrix-vector product instead of a new kernel. For a resample with repeated rows, the
    within-set sums exclude only the diagonal of the resample (``i != j`` as indices), as
    the U-statistic on the resampled set itself does.

    Parameters
    ----------
    A : ndarray of shape (n_a, n_features)
    B : ndarray of shape (n_b, n_features)
    rng : Generator
        Unused; part of the common constructor.
    bandwidth : float, optional
        Kernel width ``sigma``; default the median heuristic on the pooled sample (see
        :func:`mmd2_unbiased`). Resolved once and kept for the bootstrap and null level.
    n_permutations : int
        Label permutations for the p-value ``(1 + #{MMD_perm >= MMD}) / (1 + n_permutations)``.
    """

    name = "mmd"
    reference = "Gretton et al., A kernel two-sample test, JMLR 2012"
    default_max_samples = 2000
    bounds = (-np.inf, np.inf)

    def __init__(
        self,
        A: np.ndarray,
        B: np.ndarray,
        *,
        rng: np.random.Generator,
        bandwidth: float | None = None,
        n_permutations: int = 200,
    ) -> None:
        self._n_a, self._n_b = A.shape[0], B.shape[0]
        n = self._n_a + self._n_b
        if n > _MAX_POOLED:
            raise InvalidInputError(
                f"MMD holds the {n} x {n} kernel matrix of the pooled sample in memory; use at "
                f"most {_MAX_POOLED} rows in all (max_samples={_MAX_POOLED // 2} per side)"
            )
        self._n_permutations = check_positive_int(n_permutations, "n_permutations")
        K = squared_distances(np.concatenate([A, B]))
        if bandwidth is None:
            bandwidth = float(np.sqrt(median_offdiagonal(K)))
        bandwidth = check_positive_float(bandwidth, "bandwidth")
        np.multiply(K, np.float32(-0.5 / bandwidth**2), out=K)
        self._K = np.exp(K, out=K)  # (n, n) float32, in place: no second n x n array
        # Every kernel value on the diagonal is exp(0) = 1.
        counts = np.zeros((n, 2), dtype=np.float32)
        counts[: self._n_a, 0] = 1
        counts[self._n_a :, 1] = 1
        self.value = float(self._mmd2(counts[:, :1], counts[:, 1:])[0])
        self.params = {"bandwidth": bandwidth, "n_permutations": self._n_permutations}
        self.extra = {}

    def resample(self, idx_a: np.ndarray, idx_b: np.ndarray) -> float:
        c_a = np.bincount(idx_a, minlength=self._n_a).astype(np.float32)
        c_b = np.bincount(idx_b, minlength=self._n_b).astype(np.float32)
        counts_a = np.concatenate([c_a, np.zeros(self._n_b, np.float32)])[:, None]
        counts_b = np.concatenate([np.zeros(self._n_a, np.float32), c_b])[:, None]
        return float(self._mmd2(counts_a, counts_b)[0])

    def p_value(self, rng: np.random.Generator, groups: np.ndarray | None = None) -> float:
        """Permutation p-value; with ``groups`` (pooled, A's rows first) whole groups move.

        Rows of one patient are not exchangeable with each other's absence, so permuting
        single slices would make the test far too eager; permuting patients keeps it valid.
        """
        n = self._n_a + self._n_b
        members = None if groups is None else group_members(groups, n)
        n_groups_a = None if groups is None else np.unique(groups[: self._n_a]).size
        exceed = 0
        remaining = self._n_permutations
        while remaining:
            batch = min(remaining, _PERMUTATION_BATCH)
            in_a = np.zeros((n, batch), dtype=np.float32)
            for j in range(batch):
                if members is None:
                    in_a[rng.permutation(n)[: self._n_a], j] = 1
                else:
                    chosen = rng.permutation(len(members))[:n_groups_a]
                    in_a[np.concatenate([members[g] for g in chosen]), j] = 1
            permuted = self._mmd2(in_a, 1 - in_a)
            exceed += int(np.count_nonzero(permuted >= self.value))
            remaining -= batch
        return (1 + exceed) / (1 + self._n_permutations)

    def _mmd2(self, counts_a: np.ndarray, counts_b: np.ndarray) -> np.ndarray:
        """MMD^2_u of the multisets given by count vectors, one per column.

        Parameters
        ----------
        counts_a, counts_b : ndarray of shape (n_a + n_b, m), float32
            How often each pooled row is drawn into the first / second set.

        Returns
        -------
        ndarray of shape (m,), float64
        """
        # One float32 product for both sides; quadratic forms reduced in float64.
        KC = (self._K @ np.concatenate([counts_a, counts_b], axis=1)).astype(np.float64)
        m = counts_a.shape[1]
        ca, cb = counts_a.astype(np.float64), counts_b.astype(np.float64)
        n_a, n_b = ca.sum(axis=0), cb.sum(axis=0)
        # Subtracting sum(c) removes the i == j terms: the kernel diagonal is 1.
        within_a = np.einsum("ij,ij->j", ca, KC[:, :m]) - n_a
        within_b = np.einsum("ij,ij->j", cb, KC[:, m:]) - n_b
        cross = np.einsum("ij,ij->j", ca, KC[:, m:])
        return within_a / (n_a * (n_a - 1)) + within_b / (n_b * (n_b - 1)) - 2 * cross / (n_a * n_b)
