import math

import numpy as np
import pytest

from fmood.distances.base import PairDistance
from fmood.distances.resampling import (
    bootstrap_interval,
    cluster_resample,
    group_members,
    noise_ratio,
    null_level,
    subsample_index,
)


class _Mean(PairDistance):
    """Difference of means, plus a fixed offset on every resample (a stand-in for bias)."""

    name = "mean"
    reference = "test"
    default_max_samples = None
    bounds = (-math.inf, math.inf)

    def __init__(self, A, B, offset=0.0):
        self._A, self._B, self._offset = A, B, offset
        self.value = float(B.mean() - A.mean())
        self.params, self.extra = {}, {}

    def resample(self, idx_a, idx_b):
        return float(self._B[idx_b].mean() - self._A[idx_a].mean()) + self._offset


def test_interval_is_the_percentile_interval_when_replicates_are_centred():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal(400), rng.standard_normal(300) + 1.0
    stat = _Mean(A, B)
    low, high = bootstrap_interval(stat, 400, 300, 2000, 0.95, np.random.default_rng(1))
    half_width = 1.96 * math.sqrt(A.var() / 400 + B.var() / 300)
    assert low == pytest.approx(stat.value - half_width, abs=0.02)
    assert high - low == pytest.approx(2 * half_width, rel=0.1)


def test_interval_is_recentred_on_the_value_when_replicates_are_offset():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal(100), rng.standard_normal(100)
    stat = _Mean(A, B)
    centred = bootstrap_interval(stat, 100, 100, 300, 0.9, np.random.default_rng(1))
    biased = _Mean(A, B, offset=5.0)
    offset = bootstrap_interval(biased, 100, 100, 300, 0.9, np.random.default_rng(1))
    assert offset == pytest.approx(centred, abs=1e-9)
    assert centred[0] <= stat.value <= centred[1]


def test_interval_is_clipped_to_the_method_range():
    class _Positive(_Mean):
        bounds = (0.0, math.inf)

    A = np.zeros(50)
    B = np.r_[np.zeros(49), 1.0]
    low, _ = bootstrap_interval(_Positive(A, B), 50, 50, 200, 0.95, np.random.default_rng(0))
    assert low == 0.0


def test_null_level_uses_disjoint_equal_halves_and_absolute_values():
    A = np.arange(11.0)[:, None]
    seen = []

    def measure(X, Y, rng):
        seen.append((X[:, 0], Y[:, 0]))
        return -1.0 if len(seen) % 2 else 3.0

    level, values = null_level(measure, A, 4, np.random.default_rng(0))
    assert values == [-1.0, 3.0, -1.0, 3.0] and level == 2.0
    for X, Y in seen:
        assert len(X) == len(Y) == 5 and not set(X) & set(Y)


def test_noise_ratio_rules():
    assert noise_ratio(3.0, 1.5) == 2.0
    assert noise_ratio(1.0, 0.0) == math.inf
    assert math.isnan(noise_ratio(0.0, 0.0))
    assert noise_ratio(1.0, None) is None


def test_subsample_keeps_order_and_size():
    np.testing.assert_array_equal(
        subsample_index(20, None, np.random.default_rng(0)), np.arange(20)
    )
    sub = subsample_index(20, 5, np.random.default_rng(0))
    assert sub.shape == (5,) and np.all(np.diff(sub) > 0)


def test_cluster_resample_draws_whole_groups():
    groups = np.repeat(["p1", "p2", "p3"], [2, 3, 4])
    members = group_members(groups, 9)
    for seed in range(20):
        idx = cluster_resample(members, 9, np.random.default_rng(seed))
        drawn = groups[idx]
        for g in np.unique(drawn):
            # Every draw of a group brings all of its rows.
            assert np.sum(drawn == g) % np.sum(groups == g) == 0


def test_null_level_moves_whole_groups_and_matches_the_target_size():
    A = np.arange(40.0)[:, None]
    groups = np.repeat(np.arange(10), 4)
    seen = []

    def measure(rest, held, rng):
        seen.append((rest[:, 0], held[:, 0]))
        return 1.0

    null_level(measure, A, 5, np.random.default_rng(0), held_out=8, groups=groups)
    for rest, held in seen:
        assert not set(groups[rest.astype(int)]) & set(groups[held.astype(int)])
        assert len(held) == 8 and len(rest) == 32
