"""Precomputed embeddings: a .npy aligned with a CSV manifest, checked, added, resumed."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
import pytest

from fmood.backbones.precomputed import load_precomputed
from fmood.embed import embed_precomputed
from fmood.errors import InvalidInputError, StoreMismatchError
from fmood.store import FeatureStore

N, D = 7, 5


@pytest.fixture
def files(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(N, D)).astype(np.float32)
    npy = tmp_path / "vectors.npy"
    np.save(npy, vectors)
    csv = tmp_path / "manifest.csv"
    pd.DataFrame({"path": [f"imgs/{i}.png" for i in range(N)], "site": list("AABBBCC")}).to_csv(
        csv, index=False
    )
    return npy, csv, vectors


def test_vectors_and_metadata_are_added(files, tmp_path):
    npy, csv, vectors = files
    summary = embed_precomputed(npy, csv, tmp_path / "store", name="biomedclip", progress=False)
    store = FeatureStore.open(tmp_path / "store")
    np.testing.assert_array_equal(store.embeddings, vectors)
    meta = store.metadata
    assert meta["path"].tolist() == [os.path.abspath(tmp_path / f"imgs/{i}.png") for i in range(N)]
    assert meta["site"].tolist() == list("AABBBCC")
    fp = store.fingerprint
    assert fp.name == "precomputed:biomedclip" and fp.preprocessing == "precomputed"
    assert fp.weights_sha256 == hashlib.sha256(npy.read_bytes()).hexdigest()
    assert (summary.n_images, summary.n_skipped_files, summary.n_failed_files) == (N, 0, 0)
    assert summary.backbone == "precomputed:biomedclip" and store.metric == "l2"


def test_rerun_resumes_and_adds_nothing_twice(files, tmp_path):
    npy, csv, vectors = files
    first = embed_precomputed(npy, csv, tmp_path / "store", progress=False, flush_every=3)
    assert first.n_images == N and len(list((tmp_path / "store" / "metadata").iterdir())) == 3
    again = embed_precomputed(npy, csv, tmp_path / "store", progress=False)
    assert (again.n_images, again.n_skipped_files) == (0, N)
    np.testing.assert_array_equal(FeatureStore.open(tmp_path / "store").embeddings, vectors)


def test_a_partial_store_is_completed_in_order(files, tmp_path):
    npy, csv, vectors = files
    loaded = load_precomputed(npy, csv)
    store = FeatureStore.create(tmp_path / "store", D, loaded.fingerprint, metric="l2")
    store.add(
        vectors[:3],
        {"path": [r.path for r in loaded.records[:3]], "site": list("AAB")},
        fingerprint=loaded.fingerprint,
    )
    summary = embed_precomputed(npy, csv, store, progress=False)
    assert (summary.n_images, summary.n_skipped_files) == (N - 3, 3)
    np.testing.assert_array_equal(store.embeddings, vectors)  # the object was refreshed


def test_another_npy_is_another_model(files, tmp_path):
    npy, csv, vectors = files
    embed_precomputed(npy, csv, tmp_path / "store", progress=False)
    other = tmp_path / "other.npy"
    np.save(other, vectors * 2)
    with pytest.raises(StoreMismatchError, match="precomputed:precomputed"):
        embed_precomputed(other, csv, tmp_path / "store", progress=False)


def test_frame_column_allows_one_row_per_slice(tmp_path):
    npy, csv = tmp_path / "v.npy", tmp_path / "m.csv"
    np.save(npy, np.arange(8, dtype=np.float64).reshape(4, 2))
    pd.DataFrame({"path": ["v.nii", "v.nii", "w.nii", "x.png"], "frame": [0, 1, 0, None]}).to_csv(
        csv, index=False
    )
    embed_precomputed(npy, csv, tmp_path / "store", progress=False)
    meta = FeatureStore.open(tmp_path / "store").metadata
    assert meta["frame"].tolist()[:3] == [0, 1, 0] and pd.isna(meta["frame"].iloc[3])
    assert embed_precomputed(npy, csv, tmp_path / "store", progress=False).n_skipped_files == 4
    pd.DataFrame({"path": ["v.nii", "v.nii"], "frame": [1, 1]}).to_csv(csv, index=False)
    with pytest.raises(InvalidInputError, match=r"more than once.*v\.nii \(frame=1\)"):
        load_precomputed(npy, csv)


def test_row_count_mismatch(files, tmp_path):
    npy, csv, vectors = files
    np.save(npy, vectors[:-1])
    with pytest.raises(
        InvalidInputError, match=r"holds 6 vectors but .*manifest\.csv lists 7 rows"
    ):
        embed_precomputed(npy, csv, tmp_path / "store", progress=False)
    assert not (tmp_path / "store").exists()


def test_non_finite_rows_are_named_with_their_paths(files, tmp_path):
    npy, csv, vectors = files
    vectors[[1, 4], 2] = [np.nan, np.inf]
    np.save(npy, vectors)
    with pytest.raises(InvalidInputError, match=r"2 row\(s\): 1 \(.*imgs/1\.png\), 4 \("):
        embed_precomputed(npy, csv, tmp_path / "store", progress=False)
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros(N), r"must be 2-D \(n, dim\), got shape \(7,\)"),
        (np.zeros((N, 2, 2)), "2-D"),
        (np.zeros((N, 0)), "0 dimensions"),
        (np.array([["a"] * 2] * N), "real numbers"),
        (np.zeros((N, 2), dtype=complex), "complex numbers .* imaginary part"),
        (np.array([object()] * N, dtype=object), "unpickling"),
    ],
)
def test_bad_arrays(files, tmp_path, array, message):
    npy, csv, _ = files
    np.save(npy, array, allow_pickle=True)
    with pytest.raises(InvalidInputError, match=message):
        load_precomputed(npy, csv)


def test_bad_files(files, tmp_path):
    npy, csv, _ = files
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        load_precomputed(tmp_path / "nope.npy", csv)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_precomputed(npy, tmp_path / "nope.csv")
    with pytest.raises(InvalidInputError, match="not a .npy file"):
        load_precomputed(csv, csv)
    with pytest.raises(InvalidInputError, match="need a .csv manifest"):
        load_precomputed(npy, tmp_path)
    with pytest.raises(InvalidInputError, match="without ':'"):
        load_precomputed(npy, csv, name="a:b")


def test_forged_header_is_refused_before_mapping(files):
    npy, csv, _ = files
    with open(npy, "wb") as handle:
        header = {"descr": "<f4", "fortran_order": False, "shape": (N, 10**12)}
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(bytes(N * D * 4))
    with pytest.raises(InvalidInputError, match=r"truncated: .*shape \(7, 1000000000000\)"):
        load_precomputed(npy, csv)


def test_the_old_embed_precomputed_name_warns_and_forwards_to_fmood_embed():
    import fmood.backbones.precomputed as old

    with pytest.warns(DeprecationWarning, match="use fmood.embed.embed_precomputed"):
        forwarded = old.embed_precomputed
    assert forwarded is embed_precomputed
    with pytest.raises(AttributeError, match="no attribute 'embed_precomputd'"):
        old.embed_precomputd  # noqa: B018 (a misspelt name still fails)
