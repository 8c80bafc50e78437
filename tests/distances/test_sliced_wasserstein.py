import numpy as np
import ot
import pytest
import scipy.stats

from fmood.distances import sliced_wasserstein
from fmood.distances.sliced_wasserstein import SlicedWasserstein
from fmood.errors import InvalidInputError


def test_matches_pot_for_the_same_seed():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 20)).astype(np.float32)
    B = (rng.standard_normal((200, 20)) + 0.3).astype(np.float32)
    for seed, p in [(0, 2), (7, 1)]:
        expected = ot.sliced_wasserstein_distance(A, B, n_projections=40, p=p, seed=seed)
        got = sliced_wasserstein(A, B, n_projections=40, p=p, seed=seed)
        assert got == pytest.approx(float(expected), rel=1e-5)


def test_one_dimension_is_the_wasserstein_distance():
    # In 1-D every unit direction is +-1, so sliced W_1 is W_1 itself (unequal sizes).
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(120), rng.exponential(size=80)
    expected = scipy.stats.wasserstein_distance(a, b)
    assert sliced_wasserstein(a[:, None], b[:, None], p=1) == pytest.approx(expected, rel=1e-5)


def test_zero_for_identical_sets_and_grows_with_shift():
    A = np.random.default_rng(2).standard_normal((100, 8))
    assert sliced_wasserstein(A, A) == pytest.approx(0.0, abs=1e-7)
    values = [sliced_wasserstein(A, A + shift) for shift in (0.1, 0.5, 1.0)]
    assert np.all(np.diff(values) > 0)


def test_resample_projects_the_drawn_rows():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((50, 6)).astype(np.float32)
    B = rng.standard_normal((40, 6)).astype(np.float32)
    stat = SlicedWasserstein(A, B, rng=rng, n_projections=30, seed=5)
    idx_a, idx_b = rng.integers(0, 50, 50), rng.integers(0, 40, 40)
    expected = sliced_wasserstein(A[idx_a], B[idx_b], n_projections=30, seed=5)
    assert stat.resample(idx_a, idx_b) == pytest.approx(expected, rel=1e-6)
    assert stat.params == {"n_projections": 30, "p": 2, "seed": 5}


def test_draws_a_recorded_seed_when_none_is_given():
    A = np.random.default_rng(4).standard_normal((20, 3)).astype(np.float32)
    stat = SlicedWasserstein(A, A + 1, rng=np.random.default_rng(0))
    again = SlicedWasserstein(A, A + 1, rng=np.random.default_rng(1), seed=stat.params["seed"])
    assert again.value == stat.value


def test_rejects_bad_projection_count_and_seed():
    A = np.zeros((5, 2))
    with pytest.raises(InvalidInputError, match="n_projections"):
        sliced_wasserstein(A, A, n_projections=0)
    with pytest.raises(InvalidInputError, match="seed"):
        sliced_wasserstein(A, A, seed=-1)
