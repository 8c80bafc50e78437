import json

import pytest

from fmood.errors import NotAStoreError, StoreCorruptError, StoreVersionError
from fmood.store.manifest import FORMAT_VERSION, Manifest, read_manifest, write_manifest
from fmood.utils.fingerprint import Fingerprint


@pytest.fixture
def manifest():
    return Manifest(dim=4, metric="l2", index="HNSW32", fingerprint=Fingerprint("m", None, "p"))


def test_round_trip(tmp_path, manifest):
    grown = manifest.after_add(10, "part-000000.parquet", 10)
    write_manifest(tmp_path, grown)
    assert read_manifest(tmp_path) == grown
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["format"] == "fmood.feature_store"
    assert raw["format_version"] == FORMAT_VERSION
    assert raw["dtype"] == "<f4"
    assert (raw["count"], raw["index_count"]) == (10, 10)
    assert raw["metadata_parts"] == ["part-000000.parquet"]


def _write_raw(path, raw):
    (path / "manifest.json").write_text(json.dumps(raw))


def test_newer_version_names_both_versions(tmp_path, manifest):
    raw = manifest.to_dict() | {"format_version": FORMAT_VERSION + 1, "dim": "renamed"}
    _write_raw(tmp_path, raw)
    expected = rf"version {FORMAT_VERSION + 1}.*up to version {FORMAT_VERSION}.*upgrade"
    with pytest.raises(StoreVersionError, match=expected):
        read_manifest(tmp_path)


@pytest.mark.parametrize(
    "change, complaint",
    [
        ({"count": -1}, "count"),
        ({"dim": 0}, "dim"),
        ({"dim": True}, "dim"),
        ({"metric": "manhattan"}, "metric"),
        ({"dtype": "<f8"}, "dtype"),
        ({"metadata_parts": ["../../etc/passwd"]}, "metadata_parts"),
        ({"fingerprint": {"nom": "x"}}, "fingerprint"),
        ({"format": "something.else"}, "format"),
        ({"format_version": "1"}, "format_version"),
    ],
)
def test_bad_values_are_corrupt(tmp_path, manifest, change, complaint):
    _write_raw(tmp_path, manifest.to_dict() | change)
    with pytest.raises(StoreCorruptError, match=complaint):
        read_manifest(tmp_path)


def test_missing_key_is_corrupt(tmp_path, manifest):
    raw = manifest.to_dict()
    del raw["count"]
    _write_raw(tmp_path, raw)
    with pytest.raises(StoreCorruptError, match=r"manifest\.json.*missing key.*count"):
        read_manifest(tmp_path)


def test_invalid_json_is_corrupt(tmp_path):
    (tmp_path / "manifest.json").write_text('{"format": "fmood.feature_store", ')
    with pytest.raises(StoreCorruptError, match=r"manifest\.json is not valid JSON"):
        read_manifest(tmp_path)


def test_not_a_store(tmp_path):
    with pytest.raises(NotAStoreError, match="does not exist"):
        read_manifest(tmp_path / "nowhere")
    with pytest.raises(NotAStoreError, match="no manifest.json"):
        read_manifest(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotAStoreError, match="is a file"):
        read_manifest(tmp_path / "file")


def test_checksums_round_trip_and_are_optional(tmp_path, manifest):
    from fmood.store.manifest import FileSum, VectorSpan

    grown = manifest.after_add(
        10,
        "part-000000.parquet",
        10,
        span=VectorSpan(0, 10, 0, 160, "a" * 64),
        part_sum=(FileSum(123, "b" * 64), 10),
        index_sum=FileSum(456, "c" * 64),
    )
    write_manifest(tmp_path, grown)
    assert read_manifest(tmp_path) == grown
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["checksums"]["vectors"] == [{"rows": [0, 10], "bytes": [0, 160], "sha256": "a" * 64}]
    del raw["checksums"]  # a store written before checksums existed
    _write_raw(tmp_path, raw)
    old = read_manifest(tmp_path)
    assert old.checksums is None and old.count == 10
    span = VectorSpan(10, 12, 160, 192, "d" * 64)
    later = old.after_add(12, "part-000001.parquet", None, span=span)
    assert [s.start for s in later.checksums.vectors] == [10]


def test_bad_checksums_are_corrupt(tmp_path, manifest):
    raw = manifest.to_dict()
    raw["checksums"] = {
        "vectors": [{"rows": [0, 1], "bytes": [0, 16], "sha256": "xyz"}],
        "metadata_parts": {},
        "index": None,
    }
    _write_raw(tmp_path, raw)
    with pytest.raises(StoreCorruptError, match="bad checksums"):
        read_manifest(tmp_path)


def test_blocks_round_trip_and_are_optional(tmp_path, manifest):
    from dataclasses import replace

    layered = replace(manifest, blocks=(("block2", 1), ("final", 3)))
    write_manifest(tmp_path, layered.after_add(10, "part-000000.parquet", None))
    assert read_manifest(tmp_path).blocks == (("block2", 1), ("final", 3))
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["blocks"] == [["block2", 1], ["final", 3]]
    del raw["blocks"]  # a store written before blocks existed
    _write_raw(tmp_path, raw)
    assert read_manifest(tmp_path).blocks is None


@pytest.mark.parametrize(
    "blocks, complaint",
    [
        ([["a", 1], ["b", 2]], "add up to 3, not dim 4"),
        ([["a", 2], ["a", 2]], "repeat"),
        ([["a", 0], ["b", 4]], "positive integer width"),
        ([["", 4]], "non-empty name"),
        ("final", "pairs"),
        ([["a", 2.0], ["b", 2]], "positive integer width"),
    ],
)
def test_bad_blocks_are_corrupt(tmp_path, manifest, blocks, complaint):
    _write_raw(tmp_path, manifest.to_dict() | {"blocks": blocks})
    with pytest.raises(StoreCorruptError, match=f"bad blocks.*{complaint}"):
        read_manifest(tmp_path)
