import numpy as np
import ot
import pytest
from scipy.spatial.distance import cdist, pdist

from fmood.distances import sinkhorn_cost
from fmood.distances.sinkhorn import Sinkhorn


def _sets(shift, n=60, d=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, d)) + shift


def test_default_scale_is_the_median_squared_distance_within_a():
    A, B = _sets(0.5)
    stat = Sinkhorn(A.astype(np.float32), B.astype(np.float32), rng=np.random.default_rng(0))
    expected = np.median(pdist(A.astype(np.float32).astype(np.float64), "sqeuclidean"))
    assert stat.params["scale"] == pytest.approx(expected, rel=1e-5)


def test_equals_pot_sinkhorn_on_the_scaled_cost():
    A, B = _sets(0.5)
    scale, reg = 7.0, 0.1
    M = cdist(A, B, "sqeuclidean") / scale
    uniform = np.full(len(A), 1 / len(A))
    expected = ot.sinkhorn2(uniform, uniform, M, reg, numItermax=5000, stopThr=1e-10)
    got = sinkhorn_cost(A, B, reg=reg, scale=scale, max_iter=5000, tol=1e-10)
    assert got == pytest.approx(float(expected), rel=1e-5)


def test_close_to_exact_transport_for_small_reg():
    A, B = _sets(0.3, n=25, d=5)
    M = cdist(A, B, "sqeuclidean") / 10.0
    uniform = np.full(25, 1 / 25)
    exact = ot.emd2(uniform, uniform, M)
    entropic = sinkhorn_cost(A, B, reg=0.05, scale=10.0)
    # The entropic plan is feasible, so its cost is at least the optimum.
    assert exact - 1e-6 <= entropic <= 1.1 * exact


def test_rises_with_shift():
    values = [sinkhorn_cost(*_sets(shift)) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert np.all(np.diff(values) > 0)


def test_far_apart_sets_use_the_log_domain_and_stay_finite():
    # Costs span ~1e4 scale units: exp(-M / reg) underflows to 0 for the plain iterations.
    A, B = _sets(0.0, n=20, d=3)
    B = B + 100.0
    M = cdist(A, B, "sqeuclidean")
    scale = np.median(pdist(A, "sqeuclidean"))
    uniform = np.full(20, 1 / 20)
    got = sinkhorn_cost(A, B, reg=0.1)
    assert np.isfinite(got)
    assert got == pytest.approx(ot.emd2(uniform, uniform, M / scale), rel=1e-3)


def test_resample_solves_on_the_drawn_rows_and_columns():
    rng = np.random.default_rng(1)
    A, B = _sets(0.2, n=30, d=4)
    stat = Sinkhorn(A.astype(np.float32), B.astype(np.float32), rng=rng, reg=0.1)
    idx_a, idx_b = rng.integers(0, 30, 30), rng.integers(0, 30, 30)
    expected = sinkhorn_cost(A[idx_a], B[idx_b], reg=0.1, scale=stat.params["scale"])
    assert stat.resample(idx_a, idx_b) == pytest.approx(expected, rel=1e-6)
