import json
import math

import numpy as np
import pytest

from fmood.distances import DistanceResult, available_distances, dataset_distance, get_distance
from fmood.distances.api import is_distance, list_distances
from fmood.errors import InvalidInputError

# Low-dimensional toy sets spread the costs, so Sinkhorn may stop at max_iter here (not on
# embeddings, where squared distances concentrate); POT's warning says so and is not the test.
pytestmark = pytest.mark.filterwarnings("ignore:Sinkhorn did not converge")

METHODS = ["classifier", "frechet", "mmd", "sinkhorn", "sliced_wasserstein"]
FAST = dict(n_bootstrap=20, n_null=3)


def _sets(shift, n=120, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, d)) + shift


def test_registry_lists_every_method():
    assert available_distances() == METHODS == list_distances()
    assert list_distances("s*") == ["sinkhorn", "sliced_wasserstein"]
    assert is_distance("mmd") and not is_distance("kl")
    with pytest.raises(InvalidInputError, match="unknown distance 'mdm'; did you mean 'mmd'"):
        get_distance("mdm")


@pytest.mark.parametrize("method", METHODS)
def test_one_distribution_sits_at_the_null_level(method):
    result = dataset_distance(*_sets(0.0), method, **FAST)
    assert isinstance(result, DistanceResult) and result.method == method
    assert result.ratio < 2.0


@pytest.mark.parametrize("method", METHODS)
def test_ratio_rises_with_shift_and_interval_holds_the_value(method):
    results = [dataset_distance(*_sets(shift), method, **FAST) for shift in (0.0, 0.3, 0.6, 1.2)]
    assert np.all(np.diff([r.ratio for r in results]) > 0)
    for r in results:
        assert r.ci_low <= r.value <= r.ci_high


@pytest.mark.parametrize("method", METHODS)
def test_reproducible_from_random_state(method):
    A, B = _sets(0.3, n=40)
    first = dataset_distance(A, B, method, random_state=3, **FAST).to_dict()
    assert dataset_distance(A, B, method, random_state=3, **FAST).to_dict() == first
    from_generator = [
        dataset_distance(A, B, method, random_state=np.random.default_rng(3), **FAST).to_dict()
        for _ in range(2)
    ]
    assert from_generator[0] == from_generator[1]


def test_mmd_reports_a_permutation_p_value():
    shifted = dataset_distance(*_sets(1.0), "mmd", n_bootstrap=0, n_null=0, n_permutations=100)
    assert shifted.p_value <= 1 / 101 + 1e-12
    assert dataset_distance(*_sets(0.0), "frechet", **FAST).p_value is None


def test_result_records_settings_and_is_json():
    A, B = _sets(0.5, n=50)
    result = dataset_distance(A, B[:30], "sliced_wasserstein", max_samples=40, seed=2, **FAST)
    assert (result.n_a, result.n_b) == (50, 30)
    assert (result.extra["n_a_used"], result.extra["n_b_used"]) == (40, 30)
    assert result.params["seed"] == 2 and result.params["max_samples"] == 40
    assert len(result.extra["null_values"]) == 3
    json.dumps(result.to_dict())


def test_progress_bar_runs(capsys):
    dataset_distance(*_sets(0.5, n=10), "frechet", n_bootstrap=3, n_null=1, progress=True)
    assert "frechet bootstrap" in capsys.readouterr().err


def test_zero_counts_skip_interval_and_null():
    result = dataset_distance(*_sets(0.5, n=10), "frechet", n_bootstrap=0, n_null=0)
    assert result.ci_low is result.ci_high is result.null_level is result.ratio is None
    assert result.params["max_samples"] == 10_000


@pytest.mark.parametrize("method", METHODS)
def test_identical_sets_and_duplicates_and_constant_features(method):
    rng = np.random.default_rng(0)
    A = np.c_[rng.standard_normal((30, 4)), np.full(30, 2.0)]  # a constant feature
    A = np.r_[A, np.repeat(A[:1], 10, axis=0)]  # duplicated vectors
    result = dataset_distance(A, A, method, **FAST)
    assert np.isfinite([result.value, result.ci_low, result.ci_high, result.null_level]).all()
    if method in ("frechet", "sliced_wasserstein"):
        assert result.value == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_all_vectors_equal_gives_nan_ratio_not_a_crash(method):
    A = np.ones((8, 3))
    result = dataset_distance(A, A, method, **FAST)
    assert np.isfinite(result.value)
    if method != "classifier":
        assert result.null_level == 0.0 and math.isnan(result.ratio)


@pytest.mark.parametrize("method", METHODS)
def test_more_features_than_samples(method):
    A, B = _sets(1.0, n=12, d=40)
    result = dataset_distance(A, B, method, **FAST)
    assert np.isfinite(result.value) and result.ratio > 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "A, B, match",
    [
        (np.zeros((0, 3)), np.zeros((5, 3)), "A needs at least 2"),
        (np.zeros((5, 3)), np.zeros((1, 3)), "B needs at least 2"),
        (np.zeros((5, 3)), np.zeros((5, 4)), "A has 3 features but B has 4"),
        (np.r_[np.zeros((4, 3)), [[np.nan, 0, 0]]], np.zeros((5, 3)), "A has NaN .* row\\(s\\): 4"),
        (np.zeros(5), np.zeros((5, 1)), "2-D"),
    ],
)
def test_bad_input(method, A, B, match):
    with pytest.raises(InvalidInputError, match=match):
        dataset_distance(A, B, method)


def test_null_level_needs_four_rows_in_a():
    A, B = _sets(0.5, n=3)
    with pytest.raises(InvalidInputError, match="n_null=0"):
        dataset_distance(A, B, "frechet")
    assert dataset_distance(A, B, "frechet", n_null=0, n_bootstrap=5).null_level is None


def test_unknown_method_lists_the_available_ones():
    with pytest.raises(InvalidInputError, match="available: classifier, frechet, mmd"):
        dataset_distance(*_sets(0.0, n=5), "kl")


def test_unknown_parameter_lists_the_accepted_ones():
    with pytest.raises(InvalidInputError, match="bandwidth, n_permutations"):
        dataset_distance(*_sets(0.0, n=5), "mmd", n_projections=3)


@pytest.mark.parametrize(
    "settings, match",
    [
        (dict(n_bootstrap=-1), "n_bootstrap"),
        (dict(n_null=1.5), "n_null"),
        (dict(confidence=1.0), "confidence"),
        (dict(max_samples=1), "max_samples"),
        (dict(max_samples="all"), "max_samples"),
    ],
)
def test_bad_settings(settings, match):
    with pytest.raises(InvalidInputError, match=match):
        dataset_distance(*_sets(0.0, n=5), "frechet", **settings)


def _volumes(n_volumes, slices, seed, shift=0.0):
    """Slices of one volume are near-duplicates: a volume centre plus a little noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_volumes, 8)) + shift
    X = np.repeat(centres, slices, axis=0) + 0.05 * rng.standard_normal((n_volumes * slices, 8))
    return X.astype(np.float32), np.repeat(np.arange(n_volumes), slices)


@pytest.mark.parametrize("method", ["mmd", "frechet"])
def test_groups_keep_correlated_slices_from_faking_a_shift(method):
    A, groups_a = _volumes(60, 10, seed=0)
    B, groups_b = _volumes(8, 10, seed=1)  # new volumes of the same distribution
    naive = dataset_distance(A, B, method, n_bootstrap=20, random_state=0)
    grouped = dataset_distance(
        A, B, method, n_bootstrap=20, random_state=0, groups_a=groups_a, groups_b=groups_b
    )
    assert naive.ratio > 3  # rows of shared volumes make the row-wise floor far too low
    assert grouped.ratio < 2.5
    if method == "mmd":
        assert naive.p_value < 0.05 and grouped.p_value > 0.05
    shifted = dataset_distance(
        A,
        _volumes(8, 10, seed=2, shift=2.0)[0],
        method,
        n_bootstrap=20,
        random_state=0,
        groups_a=groups_a,
        groups_b=groups_b,
    )
    assert shifted.ratio > 3 * grouped.ratio


def test_groups_must_match_rows():
    A, groups = _volumes(5, 4, seed=0)
    with pytest.raises(InvalidInputError, match="groups_a"):
        dataset_distance(A, A, groups_a=groups[:3])
    with pytest.raises(InvalidInputError, match="single group"):
        dataset_distance(A, A, groups_b=np.zeros(len(A)))


def test_groups_as_a_method_parameter_is_refused_in_favour_of_groups_a_and_b():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(40, 4)), rng.normal(size=(30, 4))
    with pytest.raises(InvalidInputError, match="groups_a and groups_b"):
        dataset_distance(A, B, "classifier", groups=np.arange(70) % 7, n_bootstrap=0, n_null=0)
