"""MedMNIST and MedMNIST-C ``.npz`` files in their real layouts: read, checked, exported as PNGs."""

from __future__ import annotations

import io
import itertools
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fmood.datasets.public import (
    SEVERITIES,
    SPLITS,
    export_images,
    iter_medmnist_c,
    load_medmnist,
)
from fmood.datasets.public import medmnist as medmnist_module
from fmood.errors import InvalidInputError
from fmood.io import read_image
from fmood.io.dataset import list_dataset

COUNTS = {"train": 6, "val": 3, "test": 4}


def _medmnist(path: Path, image_shape: tuple[int, ...], n_labels: int = 1, seed: int = 0) -> dict:
    """Write a MedMNIST file as the medmnist package stores it; returns its arrays."""
    rng = np.random.default_rng(seed)
    high = 2 if n_labels > 1 else 9  # multi-label files hold 0/1 per label
    arrays = {}
    for split, n in COUNTS.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *image_shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, high, (n, n_labels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def _medmnist_c(path: Path, image_shape: tuple[int, ...], n: int = 3, seed: int = 0) -> tuple:
    """Write a MedMNIST-C file as medmnistc 0.1.0 does: the test set once per severity 1..5."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (len(SEVERITIES) * n, *image_shape), dtype=np.uint8)
    labels = np.tile(rng.integers(0, 9, (n, 1), dtype=np.uint8), (len(SEVERITIES), 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, test_images=images, test_labels=labels)
    return images, labels


def _decoded(path: str | Path) -> np.ndarray:
    (image,) = read_image(path)
    return np.round(image.pixels * 255).astype(np.uint8)


@pytest.mark.parametrize("image_shape", [(28, 28), (8, 10, 3)], ids=["grey", "rgb"])
@pytest.mark.parametrize("split", SPLITS)
def test_each_split_round_trips_exactly(tmp_path, image_shape, split):
    path = tmp_path / "bloodmnist_64.npz"
    arrays = _medmnist(path, image_shape)
    loaded = load_medmnist(path, split)
    np.testing.assert_array_equal(loaded.images, arrays[f"{split}_images"])
    np.testing.assert_array_equal(loaded.labels, arrays[f"{split}_labels"])
    assert loaded.images.dtype == np.uint8 and loaded.source == path
    expected = pd.DataFrame(
        {
            "dataset": "bloodmnist_64",
            "split": split,
            "index": np.arange(COUNTS[split]),
            "label": arrays[f"{split}_labels"][:, 0].astype(np.int64),
        }
    )
    pd.testing.assert_frame_equal(loaded.metadata, expected)


def test_multi_label_labels_are_kept_and_joined_in_the_metadata(tmp_path):
    arrays = _medmnist(tmp_path / "chestmnist.npz", (28, 28), n_labels=14)
    loaded = load_medmnist(tmp_path / "chestmnist.npz", "train")
    np.testing.assert_array_equal(loaded.labels, arrays["train_labels"])
    parsed = [list(map(int, text.split(","))) for text in loaded.metadata["label"]]
    np.testing.assert_array_equal(parsed, arrays["train_labels"])


def test_export_writes_pngs_that_decode_to_the_stored_pixels(tmp_path):
    grey = _medmnist(tmp_path / "chestmnist_64.npz", (12, 12), n_labels=14, seed=1)
    rgb = _medmnist(tmp_path / "pathmnist.npz", (6, 7, 3), seed=2)
    splits = [
        load_medmnist(tmp_path / "chestmnist_64.npz", "test"),
        load_medmnist(tmp_path / "pathmnist.npz", "val"),
    ]
    manifest = export_images(splits, tmp_path / "out")
    assert manifest == tmp_path / "out" / "manifest.csv"
    table = pd.read_csv(manifest)
    assert list(table.columns) == ["path", "dataset", "split", "index", "label"]
    assert table["path"].iloc[0] == "chestmnist_64/test/000000.png"

    records = list_dataset(manifest)
    stored = [*grey["test_images"], *rgb["val_images"]]
    rows = [*splits[0].metadata.to_dict("records"), *splits[1].metadata.to_dict("records")]
    assert len(records) == len(stored) == len(rows) == COUNTS["test"] + COUNTS["val"]
    for record, pixels, row in zip(records, stored, rows, strict=True):
        assert Path(record.path).is_file() and Path(record.path).suffix == ".png"
        np.testing.assert_array_equal(_decoded(record.path), pixels)
        # One CSV column holds both kinds of label ("0,1,..." and 5), so it reads as text.
        assert {k: str(v) for k, v in record.metadata.items()} == {
            k: str(v) for k, v in row.items()
        }


def test_export_refuses_a_foreign_folder_and_replaces_an_earlier_export(tmp_path):
    _medmnist(tmp_path / "pathmnist.npz", (5, 5, 3))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not an earlier export"):
        export_images(load_medmnist(tmp_path / "pathmnist.npz", "val"), foreign)
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]

    out = tmp_path / "out"
    export_images(load_medmnist(tmp_path / "pathmnist.npz", "val"), out)
    export_images(load_medmnist(tmp_path / "pathmnist.npz", "test"), out)
    assert sorted(p.name for p in (out / "pathmnist").iterdir()) == ["test"]
    assert len(list_dataset(out / "manifest.csv")) == COUNTS["test"]


def test_a_failed_export_leaves_the_earlier_one_whole(tmp_path, monkeypatch):
    _medmnist(tmp_path / "pathmnist.npz", (5, 5, 3))
    out = tmp_path / "out"
    export_images(load_medmnist(tmp_path / "pathmnist.npz", "val"), out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    calls = []
    original = medmnist_module.PILImage.fromarray

    def failing(pixels):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(pixels)

    monkeypatch.setattr(medmnist_module.PILImage, "fromarray", failing)
    with pytest.raises(OSError, match="disk full"):
        export_images(load_medmnist(tmp_path / "pathmnist.npz", "test"), out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_same_image_twice_is_refused(tmp_path):
    _medmnist(tmp_path / "pathmnist.npz", (5, 5))
    split = load_medmnist(tmp_path / "pathmnist.npz", "val")
    with pytest.raises(InvalidInputError, match="given more than once"):
        export_images([split, split], tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("image_shape", [(9, 9), (7, 6, 3)], ids=["grey", "rgb"])
def test_medmnist_c_yields_each_corruption_at_each_severity(tmp_path, image_shape):
    folder = tmp_path / "bloodmnist"
    stored = {
        "pixelate": _medmnist_c(folder / "pixelate.npz", image_shape, seed=1),
        "jpeg_compression": _medmnist_c(folder / "jpeg_compression.npz", image_shape, seed=2),
    }
    got = list(iter_medmnist_c(folder, severities=(2, 5)))
    assert [(s.metadata["corruption"][0], s.metadata["severity"][0]) for s in got] == [
        ("jpeg_compression", 2),
        ("jpeg_compression", 5),
        ("pixelate", 2),
        ("pixelate", 5),
    ]
    for split in got:
        corruption, severity = split.metadata["corruption"][0], split.metadata["severity"][0]
        images, labels = stored[corruption]
        rows = slice((severity - 1) * 3, severity * 3)
        np.testing.assert_array_equal(split.images, images[rows])
        np.testing.assert_array_equal(split.labels, labels[:3])
        assert split.source == folder / f"{corruption}.npz"
        expected = pd.DataFrame(
            {
                "dataset": "bloodmnist",
                "split": "test",
                "index": np.arange(3),
                "label": labels[:3, 0].astype(np.int64),
                "corruption": corruption,
                "severity": severity,
            }
        )
        pd.testing.assert_frame_equal(split.metadata, expected)

    one = list(iter_medmnist_c(folder / "pixelate.npz", corruptions=["pixelate"]))
    assert [s.metadata["severity"][0] for s in one] == list(SEVERITIES)


def test_medmnist_c_exports_next_to_the_clean_test_set(tmp_path):
    clean = _medmnist(tmp_path / "pathmnist_224.npz", (6, 6, 3))
    images, _ = _medmnist_c(tmp_path / "pathmnist" / "pixelate.npz", (6, 6, 3), n=COUNTS["test"])
    splits = itertools.chain(  # an iterator: export_images reads one split at a time
        [load_medmnist(tmp_path / "pathmnist_224.npz", "test")],
        iter_medmnist_c(tmp_path / "pathmnist", severities=(1, 2)),
    )
    manifest = export_images(splits, tmp_path / "out")
    table = pd.read_csv(manifest, dtype={"severity": "Int64"})
    assert list(table.columns) == [
        "path",
        "dataset",
        "split",
        "index",
        "label",
        "corruption",
        "severity",
    ]
    assert table["severity"].isna().sum() == COUNTS["test"]
    assert table["severity"].dropna().tolist() == [1] * 4 + [2] * 4
    records = list_dataset(manifest)
    assert records[4].path.endswith("pathmnist/pixelate/severity-1/000000.png")
    np.testing.assert_array_equal(_decoded(records[0].path), clean["test_images"][0])
    np.testing.assert_array_equal(_decoded(records[-1].path), images[2 * 4 - 1])


def test_a_missing_file_says_where_to_get_the_data(tmp_path):
    missing = tmp_path / "pathmnist_64.npz"
    with pytest.raises(InvalidInputError) as error:
        load_medmnist(missing)
    message = str(error.value)
    assert str(missing) in message and "\n" not in message
    assert "https://medmnist.com" in message and "10.5281/zenodo.10519652" in message

    with pytest.raises(InvalidInputError) as error:
        iter_medmnist_c(tmp_path / "pathmnist")  # raised at the call, before iterating
    message = str(error.value)
    assert str(tmp_path / "pathmnist") in message and "zenodo.org/records/11471504" in message


def test_missing_keys_are_named(tmp_path):
    path = tmp_path / "pathmnist.npz"
    np.savez_compressed(
        path, train_images=np.zeros((2, 4, 4), np.uint8), train_labels=np.zeros((2, 1), np.uint8)
    )
    with pytest.raises(InvalidInputError) as error:
        load_medmnist(path, "train")
    message = str(error.value)
    assert str(path) in message
    assert "['val_images', 'val_labels', 'test_images', 'test_labels']" in message

    _medmnist_c(tmp_path / "pathmnist" / "pixelate.npz", (4, 4))
    with pytest.raises(InvalidInputError, match="iter_medmnist_c"):
        load_medmnist(tmp_path / "pathmnist" / "pixelate.npz")


def test_image_and_label_counts_must_match(tmp_path):
    path = tmp_path / "pathmnist.npz"
    arrays = _medmnist(path, (4, 4))
    arrays["val_labels"] = arrays["val_labels"][:-1]
    np.savez_compressed(path, **arrays)
    with pytest.raises(InvalidInputError, match=r"3 val_images but 2 val_labels"):
        load_medmnist(path, "val")


def test_a_pickled_object_array_is_refused_not_unpickled(tmp_path):
    marker = tmp_path / "unpickled"

    class Tripwire:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    payload = np.empty(1, dtype=object)
    payload[0] = Tripwire()
    arrays = {f"{s}_{kind}": payload for s in SPLITS for kind in ("images", "labels")}
    path = tmp_path / "pathmnist.npz"
    np.savez(path, **arrays)
    with pytest.raises(InvalidInputError) as error:
        load_medmnist(path)
    assert str(path) in str(error.value) and "allow_pickle=False" in str(error.value)
    assert not marker.exists()
    np.load(path, allow_pickle=True)["test_images"]  # the tripwire works when unpickled
    assert marker.is_dir()


@pytest.mark.parametrize("damage", ["random", "truncated", "empty", "npy", "bad-crc"])
def test_a_corrupt_file_gives_a_message_naming_it(tmp_path, damage):
    path = tmp_path / "pathmnist.npz"
    _medmnist(path, (16, 16))
    data = path.read_bytes()
    if damage == "random":
        path.write_bytes(np.random.default_rng(0).bytes(400))
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "npy":
        np.save(tmp_path / "a.npy", np.zeros(3))
        (tmp_path / "a.npy").rename(path)
    else:
        path.unlink()
        with zipfile.ZipFile(path, "w") as archive:  # stored, so a flipped byte hits the data
            archive.writestr("test_images.npy", _npy_bytes(np.zeros((2, 8, 8), np.uint8)))
            archive.writestr("test_labels.npy", _npy_bytes(np.zeros((2, 1), np.uint8)))
            for key in ("train_images", "train_labels", "val_images", "val_labels"):
                archive.writestr(f"{key}.npy", _npy_bytes(np.zeros(1, np.uint8)))
        raw = bytearray(path.read_bytes())
        raw[raw.index(b"\x93NUMPY") + 140] ^= 0xFF
        path.write_bytes(bytes(raw))
    with pytest.raises(InvalidInputError) as error:
        load_medmnist(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_3d_volumes_and_wrong_dtypes_are_refused(tmp_path):
    _medmnist(tmp_path / "organmnist3d.npz", (4, 5, 6))
    with pytest.raises(InvalidInputError, match="3-D MedMNIST volume"):
        load_medmnist(tmp_path / "organmnist3d.npz")
    arrays = _medmnist(tmp_path / "pathmnist.npz", (4, 4))
    arrays["test_images"] = arrays["test_images"].astype(np.float32)
    np.savez(tmp_path / "pathmnist.npz", **arrays)
    with pytest.raises(InvalidInputError, match="must be uint8"):
        load_medmnist(tmp_path / "pathmnist.npz")


def test_medmnist_c_files_must_repeat_the_test_labels_per_severity(tmp_path):
    path = tmp_path / "pathmnist" / "pixelate.npz"
    path.parent.mkdir()
    labels = np.arange(15, dtype=np.uint8)[:, None]  # not one block repeated five times
    np.savez_compressed(path, test_images=np.zeros((15, 4, 4), np.uint8), test_labels=labels)
    with pytest.raises(InvalidInputError, match="not a MedMNIST-C file"):
        list(iter_medmnist_c(path))
    np.savez_compressed(
        path, test_images=np.zeros((7, 4, 4), np.uint8), test_labels=np.zeros((7, 1), np.uint8)
    )
    with pytest.raises(InvalidInputError, match="5 equal blocks"):
        list(iter_medmnist_c(path))


def test_bad_arguments_are_refused(tmp_path):
    _medmnist(tmp_path / "pathmnist.npz", (4, 4))
    with pytest.raises(InvalidInputError, match="split must be one of"):
        load_medmnist(tmp_path / "pathmnist.npz", "validation")
    _medmnist_c(tmp_path / "pathmnist" / "pixelate.npz", (4, 4))
    with pytest.raises(InvalidInputError, match=r"no corruption file for \['fog'\]"):
        iter_medmnist_c(tmp_path / "pathmnist", corruptions=["fog"])
    with pytest.raises(InvalidInputError, match="severities"):
        iter_medmnist_c(tmp_path / "pathmnist", severities=(0, 6))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no <corruption>.npz file"):
        iter_medmnist_c(tmp_path / "empty")
    with pytest.raises(InvalidInputError, match="no split"):
        export_images([], tmp_path / "out")
