"""Chunked, file-aligned adds; metadata made storable; opening and creating the store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmood.embed.writer import (
    ChunkWriter,
    metadata_frame,
    open_or_create_for_append,
    path_key,
    remove_if_unused,
    storable,
    stored_files,
    unstorable,
)
from fmood.errors import InvalidInputError, StoreMismatchError
from fmood.store import FeatureStore, Fingerprint

FP = Fingerprint("tiny", "abc", "size=32")


def test_storable_values():
    assert storable(None) is None and storable(3) == 3 and storable("x") == "x"
    assert storable(np.float32(1.5)) == 1.5 and isinstance(storable(np.int64(2)), int)
    assert storable([0.5, 0.5]) == "[0.5,0.5]" and storable((1, 2)) == "[1,2]"
    assert storable(np.array([1.0, 2.0])) == "[1.0,2.0]"
    assert storable(object) == str(object)


def test_metadata_frame_fills_missing_keys_and_keeps_ints():
    frame = metadata_frame([{"path": "a", "Rows": 512}, {"path": "b", "format": "PNG"}])
    assert list(frame.columns) == ["path", "Rows", "format"]
    assert frame["Rows"].tolist() == [512, None] and frame["format"].tolist() == [None, "PNG"]
    store_types = pd.DataFrame(frame).map(type)
    assert store_types.loc[0, "Rows"] is int


def test_metadata_frame_turns_a_mixed_column_into_text():
    frame = metadata_frame([{"voi": "min-max"}, {"voi": [40, 400]}, {"voi": 3}, {"voi": None}])
    assert frame["voi"].tolist() == ["min-max", "[40,400]", "3", None]


def test_chunks_end_at_file_boundaries(tmp_path):
    store = FeatureStore.create(tmp_path / "s", 2, FP, metric="l2")
    writer = ChunkWriter(store, FP, flush_every=3)
    sizes = [2, 2, 1, 4, 1]
    for i, n in enumerate(sizes):
        writer.add_file(np.full((n, 2), i, np.float32), [{"path": f"f{i}"}] * n)
    # Flushed once 4 rows (2 + 2) and then 5 (1 + 4) waited: never inside a file.
    assert writer.n_added == 9 and writer.n_waiting == 1 and writer.n_files_added == 4
    assert len(FeatureStore.open(tmp_path / "s")) == 9
    writer.flush()
    assert len(FeatureStore.open(tmp_path / "s")) == 10 and writer.n_files_added == 5
    parts = sorted((tmp_path / "s" / "metadata").iterdir())
    assert [len(pd.read_parquet(p)) for p in parts] == [4, 5, 1]
    with pytest.raises(InvalidInputError, match="2 vectors but 1"):
        writer.add_file(np.zeros((2, 2)), [{"path": "x"}])


def test_open_or_create_for_append_creates_l2_store_and_reports_creation(tmp_path):
    opened = open_or_create_for_append(tmp_path / "new", 4, FP)
    assert opened.created and opened.store.metric == "l2" and opened.store.fingerprint == FP
    remove_if_unused(opened)
    assert not (tmp_path / "new").exists()


def test_open_or_create_for_append_records_the_backbones_blocks(tmp_path):
    opened = open_or_create_for_append(
        tmp_path / "new", 4, FP, blocks=(("stage1", 1), ("final", 3))
    )
    assert FeatureStore.open(opened.store.path).blocks == (("stage1", 1), ("final", 3))


def test_open_or_create_for_append_refuses_another_fingerprint_naming_both(tmp_path):
    FeatureStore.create(tmp_path / "s", 4, FP)
    other = Fingerprint("dinov2-base", "def", "size=224")
    with pytest.raises(StoreMismatchError, match=r"tiny \(weights sha256 abc.*dinov2-base"):
        open_or_create_for_append(tmp_path / "s", 4, other)
    opened = open_or_create_for_append(tmp_path / "s", 4, FP)
    assert not opened.created
    remove_if_unused(opened)  # not made by this run: kept
    assert (tmp_path / "s").exists()


def test_stored_files_maps_paths_to_hashes(tmp_path):
    store = FeatureStore.create(tmp_path / "s", 2, FP, metric="l2")
    assert stored_files(store) == {}
    store.add(
        np.zeros((3, 2)),
        {"path": ["/a", "/a", "/b"], "file_sha256": ["h1", "h1", None]},
        fingerprint=FP,
    )
    store.add(np.zeros((1, 2)), {"path": ["/c"]}, fingerprint=FP)
    assert stored_files(store) == {"/a": "h1", "/b": None, "/c": None}


def test_files_another_writer_stored_meanwhile_are_not_added_or_counted(tmp_path):
    store = FeatureStore.create(tmp_path / "s", 2, FP, metric="l2")
    writer = ChunkWriter(store, FP, flush_every=100)
    writer.add_file(np.zeros((2, 2)), [{"path": "/a", "frame": 0}, {"path": "/a", "frame": 1}])
    writer.add_file(np.ones((1, 2)), [{"path": "/b", "frame": None}])
    FeatureStore.open(tmp_path / "s", mode="a").add(
        np.ones((2, 2)), {"path": ["/a", "/a"]}, fingerprint=FP
    )
    writer.flush()
    assert (writer.n_added, writer.n_files_added, writer.n_files_skipped) == (1, 1, 1)
    assert FeatureStore.open(tmp_path / "s").metadata["path"].tolist() == ["/a", "/a", "/b"]


def test_remove_if_unused_keeps_a_store_another_writer_added_to(tmp_path):
    opened = open_or_create_for_append(tmp_path / "new", 2, FP)
    FeatureStore.open(tmp_path / "new", mode="a").add(np.ones((1, 2)), fingerprint=FP)
    remove_if_unused(opened)  # this object still believes the store empty
    assert len(FeatureStore.open(tmp_path / "new")) == 1


def test_path_key_and_unstorable():
    assert path_key("/d/a.png") == "/d/a.png"
    hashed = path_key("/d/a.png", store_paths=False)
    assert hashed.startswith("sha256:") and len(hashed) == 7 + 64
    assert path_key("/d/\udcff.png", store_paths=False) != path_key("/d/\udcfe.png", False)
    assert unstorable({"path": "/d/a.png", "n": 3}) is None
    assert unstorable({"path": "/d/a.png", "site": "x\udcff"}) == "site"


def test_the_old_open_store_name_warns_and_is_the_same_function():
    import fmood.embed.writer as writer

    with pytest.warns(DeprecationWarning, match="use open_or_create_for_append"):
        assert writer.open_store is open_or_create_for_append
