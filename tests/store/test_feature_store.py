"""FeatureStore contents, search and input errors (crash safety: test_crash_safety.py)."""

import json
import os

import faiss
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from fmood.errors import (
    InvalidInputError,
    NotAStoreError,
    StoreCorruptError,
    StoreError,
    StoreMismatchError,
    StoreVersionError,
)
from fmood.store import FeatureStore, Fingerprint, Neighbors

DINO = Fingerprint("dinov2-base", "d" * 64, "resize224,imagenet-norm")
CLIP = Fingerprint("biomedclip", "c" * 64, "resize224,clip-norm")


def reference(X, Q, k, metric):
    """Exact neighbours by scipy: ids and Euclidean distances (between unit vectors for cosine)."""
    if metric == "cosine":
        dist = np.sqrt(np.maximum(2 * cdist(Q, X, "cosine"), 0))
    else:
        dist = cdist(Q, X, "euclidean")
    ids = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, ids, axis=1), ids


@pytest.fixture
def store(tmp_path, rng):
    s = FeatureStore.create(tmp_path / "store", 8, DINO)
    s.add(rng.normal(size=(20, 8)), {"path": [f"img{i}.png" for i in range(20)]}, fingerprint=DINO)
    return s


# ---------------------------------------------------------------- contents


def test_round_trip(tmp_path, rng):
    path = tmp_path / "store"
    X1 = rng.normal(size=(30, 16)).astype(np.float32)
    X2 = rng.normal(size=(12, 16)).astype(np.float32)
    s = FeatureStore.create(path, 16, DINO.to_dict(), metric="l2")
    ids1 = s.add(X1, pd.DataFrame({"path": [f"a{i}.png" for i in range(30)], "site": "A"}))
    ids2 = s.add(X2, [{"path": f"b{i}.png", "label": i % 3} for i in range(12)], fingerprint=DINO)
    np.testing.assert_array_equal(ids1, np.arange(30))
    np.testing.assert_array_equal(ids2, np.arange(30, 42))
    assert ids1.dtype == ids2.dtype == np.int64

    r = FeatureStore.open(path)
    assert (len(r), r.dim, r.metric, r.index_spec) == (42, 16, "l2", "Flat")
    assert (r.fingerprint, r.path) == (DINO, path)
    np.testing.assert_array_equal(r.embeddings, np.vstack([X1, X2]))
    meta = r.metadata
    assert list(meta.columns) == ["path", "site", "label"]
    np.testing.assert_array_equal(meta.index, np.arange(42))
    paths = [f"a{i}.png" for i in range(30)] + [f"b{i}.png" for i in range(12)]
    assert meta["path"].tolist() == paths
    assert meta["site"].iloc[:30].eq("A").all() and meta["site"].iloc[30:].isna().all()
    assert meta["label"].iloc[:30].isna().all()
    assert meta["label"].iloc[30:].tolist() == [i % 3 for i in range(12)]
    pd.testing.assert_frame_equal(meta, s.metadata)


def test_embeddings_is_a_read_only_memmap(store):
    emb = store.embeddings
    assert isinstance(emb, np.memmap)
    assert emb.shape == (20, 8) and emb.dtype == np.float32
    with pytest.raises(ValueError):
        emb[0, 0] = 1.0


def test_blocks_are_recorded_at_creation_and_default_to_one(tmp_path, store):
    assert store.blocks == (("final", 8),)
    path = tmp_path / "layered"
    FeatureStore.create(path, 8, DINO, blocks=[("block2", 3), ("final", 5)])
    assert FeatureStore.open(path).blocks == (("block2", 3), ("final", 5))
    with pytest.raises(InvalidInputError, match="add up to 7, not dim 8"):
        FeatureStore.create(tmp_path / "bad", 8, DINO, blocks=[("block2", 2), ("final", 5)])
    assert not (tmp_path / "bad").exists()


def test_metadata_is_a_copy(store):
    meta = store.metadata
    meta["path"] = "changed"
    assert store.metadata["path"].iloc[0] == "img0.png"


def test_metadata_none_gives_null_paths_and_dtype_conflicts_survive(tmp_path, rng):
    s = FeatureStore.create(tmp_path / "s", 4)
    s.add(rng.normal(size=(2, 4)))
    s.add(rng.normal(size=(2, 4)), {"label": [1, 2]})
    s.add(rng.normal(size=(2, 4)), {"label": ["x", "y"], "path": ["p", "q"]})
    meta = FeatureStore.open(tmp_path / "s").metadata
    assert meta["path"].tolist()[:4] == [None] * 4 and meta["path"].tolist()[4:] == ["p", "q"]
    assert meta["label"].tolist()[2:] == [1, 2, "x", "y"]


def test_pathlib_paths_are_stored_as_strings(tmp_path, rng):
    s = FeatureStore.create(tmp_path / "s", 4)
    s.add(rng.normal(size=(2, 4)), {"path": [tmp_path / "a.png", "b.png"]})
    assert FeatureStore.open(s.path).metadata["path"].tolist() == [str(tmp_path / "a.png"), "b.png"]


def test_empty_add_is_a_no_op(store):
    ids = store.add(np.empty((0, 8)), [])
    assert ids.shape == (0,) and ids.dtype == np.int64
    assert len(FeatureStore.open(store.path)) == 20


def test_single_vector_store(tmp_path):
    s = FeatureStore.create(tmp_path / "s", 3, metric="l2")
    s.add([[1.0, 2.0, 2.0]])
    nb = s.nearest([[0.0, 0.0, 0.0]], k=1)
    np.testing.assert_array_equal(nb.ids, [[0]])
    np.testing.assert_allclose(nb.distances, [[3.0]])
    with pytest.raises(InvalidInputError, match="holds only 1 vectors"):
        s.nearest([[0.0, 0.0, 0.0]], k=2)


def test_refresh_sees_other_writers(store, rng):
    reader = FeatureStore.open(store.path)
    store.add(rng.normal(size=(5, 8)))
    assert len(reader) == 20 and reader.embeddings.shape == (20, 8)
    reader.refresh()
    assert len(reader) == 25 and len(reader.metadata) == 25
    writer = FeatureStore.open(store.path, mode="a")
    np.testing.assert_array_equal(writer.add(rng.normal(size=(2, 8))), [25, 26])
    # The first writer picks up what the second added.
    np.testing.assert_array_equal(store.add(rng.normal(size=(1, 8))), [27])


# ---------------------------------------------------------------- search


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_nearest_matches_brute_force(tmp_path, rng, metric):
    X = rng.normal(size=(500, 24)).astype(np.float32) + 0.5
    Q = rng.normal(size=(50, 24)).astype(np.float32) + 0.5
    s = FeatureStore.create(tmp_path / "s", 24, metric=metric)
    s.add(X[:300])
    s.add(X[300:])  # the in-memory exact index grows with the add
    nb = s.nearest(Q, k=10, batch_size=16)
    ref_d, ref_i = reference(X.astype(np.float64), Q.astype(np.float64), 10, metric)
    np.testing.assert_array_equal(nb.ids, ref_i)
    np.testing.assert_allclose(nb.distances, ref_d, atol=1e-5)
    assert nb.distances.dtype == np.float32 and nb.ids.dtype == np.int64
    np.testing.assert_array_equal(FeatureStore.open(s.path).nearest(Q, k=10).ids, ref_i)


def test_exclude_self_is_leave_one_out(tmp_path, rng):
    X = rng.normal(size=(60, 6)).astype(np.float32)
    s = FeatureStore.create(tmp_path / "s", 6, metric="l2")
    s.add(X)
    nb = s.nearest(s.embeddings, k=3, exclude_self=True)
    dist = cdist(X, X)
    np.fill_diagonal(dist, np.inf)
    ref_i = np.argsort(dist, axis=1)[:, :3]
    np.testing.assert_array_equal(nb.ids, ref_i)
    np.testing.assert_allclose(nb.distances, np.take_along_axis(dist, ref_i, axis=1), atol=1e-5)
    with pytest.raises(InvalidInputError, match="own 60 vectors"):
        s.nearest(X[:5], k=3, exclude_self=True)
    with pytest.raises(InvalidInputError, match="one of them the query itself"):
        s.nearest(X, k=60, exclude_self=True)


def test_duplicate_vectors_are_all_found(tmp_path, rng):
    X = rng.normal(size=(10, 4)).astype(np.float32)
    s = FeatureStore.create(tmp_path / "s", 4, metric="l2")
    s.add(np.vstack([X, X[3:4], X[3:4]]))  # ids 10 and 11 duplicate id 3
    nb = s.nearest(X[3:4], k=4)
    assert set(nb.ids[0, :3]) == {3, 10, 11}
    np.testing.assert_allclose(nb.distances[0, :3], 0, atol=1e-6)
    assert nb.distances[0, 3] > 0


def test_table_joins_neighbour_metadata(store, rng):
    nb = store.nearest(store.embeddings[:2], k=3)
    assert isinstance(nb, Neighbors)
    t = nb.table()
    assert list(t.columns) == ["query", "rank", "id", "distance", "path"]
    assert t["query"].tolist() == [0, 0, 0, 1, 1, 1] and t["rank"].tolist() == [1, 2, 3] * 2
    np.testing.assert_array_equal(t["id"], nb.ids.ravel())
    np.testing.assert_allclose(t["distance"], nb.distances.ravel())
    assert t["path"].tolist() == [f"img{i}.png" for i in nb.ids.ravel()]


def test_table_renames_clashing_metadata_columns(tmp_path, rng):
    s = FeatureStore.create(tmp_path / "s", 4)
    s.add(rng.normal(size=(3, 4)), {"id": ["p1", "p2", "p3"]})
    t = s.nearest(s.embeddings, k=1).table()
    assert t["neighbor_id"].tolist() == ["p1", "p2", "p3"]


# ---------------------------------------------------------------- bad input


def test_wrong_dim_names_both_stores(store, rng):
    expected = r"holds 8-d vectors from dinov2-base.*got 5-d vectors from biomedclip"
    with pytest.raises(StoreMismatchError, match=expected):
        store.add(rng.normal(size=(2, 5)), fingerprint=CLIP)


def test_other_fingerprint_names_both(store, rng):
    both = r"dinov2-base \(weights sha256 d{12}.*biomedclip \(weights sha256 c{12}"
    with pytest.raises(StoreMismatchError, match=both):
        store.add(rng.normal(size=(2, 8)), fingerprint=CLIP.to_dict())
    other_prep = Fingerprint(DINO.name, DINO.weights_sha256, "resize448")
    with pytest.raises(StoreMismatchError, match="resize448"):
        store.add(rng.normal(size=(2, 8)), fingerprint=other_prep)
    assert len(FeatureStore.open(store.path)) == 20


def test_store_without_fingerprint_refuses_a_claimed_one(tmp_path, rng):
    s = FeatureStore.create(tmp_path / "s", 4)
    s.add(rng.normal(size=(2, 4)))  # no claim: accepted
    expected = "without a fingerprint; got 4-d vectors from dinov2"
    with pytest.raises(StoreMismatchError, match=expected):
        s.add(rng.normal(size=(2, 4)), fingerprint=DINO)


def test_nan_rows_are_listed(store, rng):
    X = rng.normal(size=(6, 8))
    X[1, 3] = np.nan
    X[4, 0] = np.inf
    with pytest.raises(InvalidInputError, match=r"2 row\(s\): 1, 4"):
        store.add(X)
    with pytest.raises(InvalidInputError, match=r"1, 4"):
        store.nearest(X)
    assert len(store) == 20


def test_zero_vector_refused_for_cosine(store):
    X = np.ones((3, 8))
    X[2] = 0
    with pytest.raises(InvalidInputError, match=r"all-zero row\(s\) \(2\)"):
        store.add(X)


@pytest.mark.parametrize(
    "metadata, complaint",
    [
        ({"path": ["a"]}, "1 rows but 3 vectors"),
        ([{"path": "a"}] * 4, "4 rows but 3 vectors"),
        ({"mixed": [1, "a", 2.0]}, "one type"),
        (pd.DataFrame({0: [1, 2, 3]}), "must be strings"),
        ("a.png", "DataFrame"),
        (["a.png", "b.png", "c.png"], "one dict per vector"),
        ({"label": 1}, "cannot be read as a table"),
    ],
)
def test_bad_metadata_leaves_the_store_unchanged(store, rng, metadata, complaint):
    size = os.path.getsize(store.path / "vectors.f32")
    with pytest.raises(InvalidInputError, match=complaint):
        store.add(rng.normal(size=(3, 8)), metadata)
    assert os.path.getsize(store.path / "vectors.f32") == size
    assert len(FeatureStore.open(store.path)) == 20


def test_query_errors(store, rng):
    with pytest.raises(InvalidInputError, match="expected 8"):
        store.nearest(rng.normal(size=(2, 7)))
    with pytest.raises(InvalidInputError, match="holds only 20 vectors"):
        store.nearest(rng.normal(size=(2, 8)), k=21)
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        store.nearest(rng.normal(size=(2, 8)), k=0)


def test_empty_store_cannot_be_searched(tmp_path):
    s = FeatureStore.create(tmp_path / "s", 4)
    assert len(s) == 0 and s.embeddings.shape == (0, 4) and list(s.metadata.columns) == ["path"]
    with pytest.raises(InvalidInputError, match="is empty"):
        s.nearest(np.ones((1, 4)))


def test_read_only_store_refuses_add(store, rng):
    with pytest.raises(StoreError, match="read-only"):
        FeatureStore.open(store.path).add(rng.normal(size=(1, 8)))


def test_bad_arguments(tmp_path, store):
    with pytest.raises(InvalidInputError, match="metric"):
        FeatureStore.create(tmp_path / "a", 4, metric="manhattan")
    with pytest.raises(InvalidInputError, match="cannot build index 'IVF'"):
        FeatureStore.create(tmp_path / "b", 4, index="IVF")
    with pytest.raises(InvalidInputError, match="dim"):
        FeatureStore.create(tmp_path / "c", 0)
    with pytest.raises(InvalidInputError, match="mode"):
        FeatureStore.open(store.path, mode="w")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# ---------------------------------------------------------------- create / open errors


def test_create_over_existing_store(store):
    with pytest.raises(StoreError, match="already is a feature store.*exist_ok=True"):
        FeatureStore.create(store.path, 8, DINO)
    again = FeatureStore.create(store.path, 8, DINO, exist_ok=True)
    assert len(again) == 20
    with pytest.raises(StoreMismatchError, match="holds 8-d vectors from dinov2-base.*got 16-d"):
        FeatureStore.create(store.path, 16, DINO, exist_ok=True)
    with pytest.raises(StoreMismatchError, match="biomedclip"):
        FeatureStore.create(store.path, 8, CLIP, exist_ok=True)
    with pytest.raises(StoreMismatchError, match="index 'HNSW32'"):
        FeatureStore.create(store.path, 8, DINO, index="HNSW32", exist_ok=True)


def test_create_in_empty_directory_but_not_in_a_full_one(tmp_path):
    (tmp_path / "empty").mkdir()
    assert len(FeatureStore.create(tmp_path / "empty", 4)) == 0
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        FeatureStore.create(tmp_path / "full", 4, exist_ok=True)
    assert os.listdir(tmp_path / "full") == ["notes.txt"]
    leftovers = tmp_path / "interrupted"  # what a create killed before its manifest leaves
    (leftovers / "metadata").mkdir(parents=True)
    (leftovers / "vectors.f32").write_bytes(b"")
    (leftovers / ".lock").write_bytes(b"")
    assert FeatureStore.create(leftovers, 4).dim == 4


def test_create_at_a_file_or_under_one(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StoreError, match="it is a file"):
        FeatureStore.create(tmp_path / "afile", 4)
    with pytest.raises(StoreError, match=r"cannot create a feature store at .*afile/store"):
        FeatureStore.create(tmp_path / "afile" / "store", 4)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_create_in_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    try:
        with pytest.raises(StoreError, match=r"ro/store.*Permission denied"):
            FeatureStore.create(ro / "store", 4)
    finally:
        ro.chmod(0o700)


def test_open_what_is_not_a_store(tmp_path):
    with pytest.raises(NotAStoreError, match=r"does not exist.*FeatureStore\.create"):
        FeatureStore.open(tmp_path / "missing")
    with pytest.raises(NotAStoreError, match="no manifest.json"):
        FeatureStore.open(tmp_path)
    (tmp_path / "f").write_text("x")
    # NotAStoreError is also a FileNotFoundError, for callers that catch that.
    with pytest.raises(FileNotFoundError, match="is a file"):
        FeatureStore.open(tmp_path / "f")


def test_partial_store_without_manifest(store):
    (store.path / "manifest.json").unlink()
    with pytest.raises(NotAStoreError, match="no manifest.json"):
        FeatureStore.open(store.path)
    with pytest.raises(StoreError, match="not empty"):  # its data must not be clobbered
        FeatureStore.create(store.path, 8)


def test_truncated_vectors(store):
    with open(store.path / "vectors.f32", "r+b") as f:
        f.truncate(19 * 8 * 4 + 5)
    expected = r"vectors\.f32 holds 19 complete 8-d vectors, but the manifest lists 20"
    with pytest.raises(StoreCorruptError, match=expected):
        FeatureStore.open(store.path)


def test_missing_metadata_part(store, rng):
    store.add(rng.normal(size=(2, 8)))
    (store.path / "metadata" / "part-000001.parquet").unlink()
    expected = r"part-000001\.parquet listed in the manifest is missing"
    with pytest.raises(StoreCorruptError, match=expected):
        FeatureStore.open(store.path)


def test_metadata_rows_disagree_with_manifest(store):
    manifest = json.loads((store.path / "manifest.json").read_text())
    manifest["count"] = 19
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreCorruptError, match="hold 20 rows.*lists 19 vectors"):
        FeatureStore.open(store.path)


def test_corrupt_manifest(store):
    (store.path / "manifest.json").write_text("{not json")
    with pytest.raises(StoreCorruptError, match=r"manifest\.json is not valid JSON"):
        FeatureStore.open(store.path)


def test_newer_format_version(store):
    manifest = json.loads((store.path / "manifest.json").read_text())
    manifest["format_version"] = 99
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreVersionError, match="version 99.*up to version 1.*upgrade fmood"):
        FeatureStore.open(store.path)


# ---------------------------------------------------------------- skip_stored and verify


def test_skip_stored_adds_only_rows_whose_key_is_new(tmp_path, rng):
    s = FeatureStore.create(tmp_path / "s", 4, metric="l2")
    s.add(rng.normal(size=(3, 4)), {"path": ["a", "a", "b"], "frame": [0, 1, None]})
    other = FeatureStore.open(tmp_path / "s", mode="a")  # sees the store as it was
    X = rng.normal(size=(4, 4))
    ids = other.add(X, {"path": ["a", "c", "c", "b"], "frame": [2, 0, 1, None]}, skip_stored="path")
    np.testing.assert_array_equal(ids, [-1, 3, 4, -1])
    np.testing.assert_array_equal(other.embeddings[3:], X[1:3].astype(np.float32))
    ids = s.add(X[:1], {"path": ["a"], "frame": [2]}, skip_stored=("path", "frame"))
    np.testing.assert_array_equal(ids, [5])  # a new frame of a stored path
    again = s.add(X[:2], {"path": ["c", "c"], "frame": [0, 1]}, skip_stored="path")
    assert again.tolist() == [-1, -1]
    assert len(FeatureStore.open(tmp_path / "s")) == 6
    with pytest.raises(InvalidInputError, match="skip_stored names column"):
        s.add(X[:1], {"path": ["z"]}, skip_stored="site")


def test_each_add_records_checksums_and_verify_passes(store, rng):
    assert store.verify() == []
    store.add(rng.normal(size=(5, 8)), fingerprint=DINO)
    sums = json.loads((store.path / "manifest.json").read_text())["checksums"]
    assert [s["rows"] for s in sums["vectors"]] == [[0, 20], [20, 25]]
    assert [s["bytes"] for s in sums["vectors"]] == [[0, 640], [640, 800]]
    assert sorted(sums["metadata_parts"]) == ["part-000000.parquet", "part-000001.parquet"]
    assert sums["metadata_parts"]["part-000001.parquet"]["rows"] == 5
    assert FeatureStore.open(store.path).verify() == []


def test_a_replaced_metadata_part_of_another_size_is_caught_on_open(store, rng):
    store.add(
        rng.normal(size=(20, 8)),
        {"path": [f"other{i}.png" for i in range(20)], "site": ["x"] * 20},
        fingerprint=DINO,
    )
    meta = store.path / "metadata"
    (meta / "part-000000.parquet").write_bytes((meta / "part-000001.parquet").read_bytes())
    with pytest.raises(StoreCorruptError, match=r"part-000000\.parquet: \d+ bytes and 20 rows"):
        FeatureStore.open(store.path)


def test_an_ann_index_left_by_a_killed_add_is_a_note_a_foreign_one_a_problem(tmp_path, rng):
    s = FeatureStore.create(tmp_path / "s", 8, index="HNSW32", metric="l2")
    s.add(rng.normal(size=(50, 8)))
    newer = faiss.read_index(str(s.path / "index.faiss"))
    newer.add(rng.normal(size=(5, 8)).astype(np.float32))  # as an uncommitted add leaves it
    faiss.write_index(newer, str(s.path / "index.faiss"))
    assert any("did not commit" in note for note in FeatureStore.open(s.path).verify())
    faiss.write_index(faiss.IndexHNSWFlat(4, 32), str(s.path / "index.faiss"))
    with pytest.raises(StoreCorruptError, match=r"index\.faiss: does not match the sha256"):
        FeatureStore.open(s.path).verify()
