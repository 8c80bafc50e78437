import faiss
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from fmood.errors import InvalidInputError
from fmood.utils.index import (
    MAX_TRAINING_POINTS_PER_CENTROID,
    build_index,
    default_nprobe,
    gpu_available,
    min_training_points,
    search,
    to_device,
    train_and_add,
)


def test_flat_search_matches_sklearn(rng):
    X = rng.normal(size=(300, 12)).astype(np.float32)
    Q = rng.normal(size=(37, 12)).astype(np.float32)
    index = build_index(12, "Flat", "l2")
    train_and_add(index, X)
    D, ids = search(index, Q, 5, batch_size=8)  # several chunks, one of them short
    ref_d, ref_i = NearestNeighbors(n_neighbors=5).fit(X).kneighbors(Q)
    np.testing.assert_array_equal(ids, ref_i)
    np.testing.assert_allclose(D, ref_d**2, rtol=1e-5, atol=1e-5)  # faiss gives squared L2
    assert D.dtype == np.float32 and ids.dtype == np.int64


def test_inner_product_search_matches_numpy(rng):
    X = rng.normal(size=(200, 8)).astype(np.float32)
    Q = rng.normal(size=(10, 8)).astype(np.float32)
    index = build_index(8, "Flat", "ip")
    train_and_add(index, X)
    D, ids = search(index, Q, 4)
    sims = Q.astype(np.float64) @ X.T.astype(np.float64)
    ref_i = np.argsort(-sims, axis=1)[:, :4]
    np.testing.assert_array_equal(ids, ref_i)
    np.testing.assert_allclose(D, np.take_along_axis(sims, ref_i, axis=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "spec, dim, needed",
    [
        ("Flat", 16, 0),
        ("HNSW32", 16, 0),
        ("IVF16,Flat", 16, 16),
        ("IVF8,PQ4", 16, 256),
        ("PQ4", 16, 256),
    ],
)
def test_min_training_points(spec, dim, needed):
    assert min_training_points(build_index(dim, spec)) == needed


def test_too_few_points_to_train_names_how_many(rng):
    index = build_index(8, "IVF16,Flat")
    with pytest.raises(InvalidInputError, match="at least 16 vectors to train.*got 10"):
        train_and_add(index, rng.normal(size=(10, 8)))


def test_defaults_and_search_parameters(clustered):
    X = clustered(700, 16)
    ivf = build_index(16, "IVF16,Flat")
    assert faiss.extract_index_ivf(ivf).nprobe == default_nprobe(16) == 8
    assert default_nprobe(4096) == 128
    train_and_add(ivf, X)
    search(ivf, X[:5], 3, nprobe=16)
    assert faiss.extract_index_ivf(ivf).nprobe == 16
    hnsw = build_index(16, "HNSW32")
    assert hnsw.hnsw.efSearch == 64
    train_and_add(hnsw, X)
    search(hnsw, X[:5], 3, ef_search=100)
    assert hnsw.hnsw.efSearch == 100
    with pytest.raises(InvalidInputError, match="nprobe applies only to IVF"):
        search(hnsw, X[:5], 3, nprobe=4)


@pytest.mark.parametrize(
    "args, complaint",
    [
        ((8, "Bogus", "l2"), "cannot build index 'Bogus'"),
        ((10, "PQ4", "l2"), "10-d"),
        ((8, "Flat", "cos"), "metric"),
        ((0, "Flat", "l2"), "dim"),
    ],
)
def test_build_index_errors(args, complaint):
    with pytest.raises(InvalidInputError, match=complaint):
        build_index(*args)


def test_search_errors(rng):
    index = build_index(4)
    train_and_add(index, rng.normal(size=(3, 4)))
    with pytest.raises(InvalidInputError, match="holds only 3 vectors"):
        search(index, rng.normal(size=(2, 4)), 4)
    with pytest.raises(InvalidInputError, match="expected 4"):
        search(index, rng.normal(size=(2, 5)), 1)
    D, ids = search(index, np.empty((0, 4)), 2)
    assert D.shape == ids.shape == (0, 2)


def test_to_device_on_cpu():
    index = build_index(4)
    assert to_device(index, "cpu") is index
    with pytest.raises(InvalidInputError, match="device"):
        to_device(index, "tpu")
    if not gpu_available():
        assert to_device(index, "auto") is index
        with pytest.raises(InvalidInputError, match="no GPU"):
            to_device(index, "cuda")


def test_ivf_search_in_list_order_returns_results_in_query_order():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3000, 16)).astype(np.float32)
    Q = rng.standard_normal((300, 16)).astype(np.float32)
    index = build_index(16, "IVF16,Flat", "l2")
    train_and_add(index, X)
    together = search(index, Q, 5, nprobe=4)
    one_by_one = [search(index, Q[i : i + 1], 5, nprobe=4) for i in range(len(Q))]
    np.testing.assert_array_equal(together[1], np.concatenate([ids for _, ids in one_by_one]))
    np.testing.assert_array_equal(together[0], np.concatenate([d for d, _ in one_by_one]))


def test_ivf_training_is_capped_per_centroid():
    index = build_index(8, "IVF16,Flat", "l2")
    train_and_add(index, np.random.default_rng(6).standard_normal((5000, 8)).astype(np.float32))
    assert (
        faiss.extract_index_ivf(index).cp.max_points_per_centroid
        == MAX_TRAINING_POINTS_PER_CENTROID
    )
