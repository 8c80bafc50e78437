"""Datasets for ``fmood embed``: folders and CSV manifests of files made from package data."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage
from pydicom.data import get_testdata_file
from skimage import data

from fmood.errors import InvalidInputError
from fmood.io import read_image
from fmood.io.dataset import (
    READ_OPTIONS,
    Record,
    check_read_options,
    file_sha256,
    list_dataset,
    list_manifest,
    load_records,
    read_record,
    write_failures,
)


@pytest.fixture(scope="module")
def camera():
    return data.camera()[::8, ::8]  # shrunk to keep tests fast


@pytest.fixture(scope="module")
def ct_small() -> Path:
    return Path(get_testdata_file("CT_small.dcm", download=False))


def _png(path: Path, pixels) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(pixels).save(path)
    return path


@pytest.fixture
def folder(tmp_path, camera, ct_small) -> Path:
    root = tmp_path / "data"
    _png(root / "b" / "deep" / "z.png", camera)
    _png(root / "a.png", camera)
    _png(root / "b" / "c.PNG", camera)
    shutil.copy(ct_small, root / "b" / "ct.dcm")
    shutil.copy(ct_small, root / "b" / "ct_nosuffix")
    _png(root / ".hidden.png", camera)
    _png(root / ".cache" / "x.png", camera)
    (root / "notes.txt").write_text("not an image")
    (root / "b" / "README").write_text("no suffix, no preamble")
    return root


def test_folder_lists_exactly_supported_files_sorted(folder):
    records = list_dataset(folder)
    relative = [Path(r.path).relative_to(folder).as_posix() for r in records]
    assert relative == ["a.png", "b/c.PNG", "b/ct.dcm", "b/ct_nosuffix", "b/deep/z.png"]
    assert all(r.metadata == {} for r in records)
    assert list_dataset(str(folder)) == records  # stable


def test_empty_folder_names_folder_and_suffixes(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InvalidInputError, match=r"\.nii\.gz") as info:
        list_dataset(tmp_path)
    assert str(tmp_path) in str(info.value) and ".png" in str(info.value)


def test_missing_source_names_it(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_dataset(missing)


def test_manifest_resolves_paths_and_keeps_columns(tmp_path, camera):
    rel = _png(tmp_path / "imgs" / "one.png", camera)
    absolute = _png(tmp_path / "elsewhere" / "two.png", camera)
    manifest = tmp_path / "imgs" / "manifest.csv"
    pd.DataFrame(
        {"path": ["one.png", str(absolute)], "label": [1, None], "site": ["A", None]}
    ).to_csv(manifest, index=False)
    records = list_dataset(manifest)
    assert [Path(r.path).resolve() for r in records] == [rel.resolve(), absolute.resolve()]
    assert records[0].metadata == {"label": 1.0, "site": "A"}
    assert records[1].metadata == {"label": None, "site": None}


def test_manifest_without_path_column(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label\na.png,1\n")
    with pytest.raises(InvalidInputError, match=r"m\.csv.*'path'.*\['file', 'label'\]"):
        list_dataset(manifest)


def test_manifest_duplicate_paths(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\na.png,1\nb.png,0\na.png,1\n./b.png,0\n")
    with pytest.raises(InvalidInputError, match="more than once") as info:
        list_dataset(manifest)
    assert "a.png" in str(info.value) and "b.png" in str(info.value)


@pytest.fixture
def mixed(tmp_path, camera, ct_small) -> Path:
    root = tmp_path / "mixed"
    _png(root / "good.png", camera)
    shutil.copy(ct_small, root / "good.dcm")
    (root / "empty.png").write_bytes(b"")
    full = (root / "good.png").read_bytes()
    (root / "truncated.png").write_bytes(full[: len(full) // 2])
    (root / "text.dcm").write_text("this is not DICOM\n" * 20)
    return root


def test_load_records_sets_bad_files_aside(mixed):
    images, failures = load_records(list_dataset(mixed))
    assert sorted(Path(r.path).name for r, _ in images) == ["good.dcm", "good.png"]
    assert list(failures.columns) == ["path", "error"]
    assert sorted(Path(p).name for p in failures["path"]) == [
        "empty.png",
        "text.dcm",
        "truncated.png",
    ]
    assert all(isinstance(e, str) and e and "\n" not in e for e in failures["error"])


def test_load_records_strict_raises_first(mixed):
    with pytest.raises((InvalidInputError, OSError, ValueError)) as info:
        load_records(list_dataset(mixed), strict=True)
    assert "empty.png" in str(info.value)  # first bad file in sorted order


def test_manifest_metadata_wins_over_reader(tmp_path, ct_small):
    shutil.copy(ct_small, tmp_path / "ct.dcm")
    reader_fields = read_image(tmp_path / "ct.dcm")[0].metadata
    assert reader_fields, "CT_small should carry technical fields"
    clash = next(iter(reader_fields))
    record = Record(str(tmp_path / "ct.dcm"), {"label": "ood", clash: "from manifest"})
    ((got_record, image),), failures = load_records([record])
    assert got_record is record and failures.empty
    assert list(image.metadata)[:2] == ["label", clash]
    assert image.metadata[clash] == "from manifest"
    assert set(image.metadata) == {"label"} | set(reader_fields)


def test_multi_frame_gives_several_pairs(tmp_path, camera):
    path = tmp_path / "stack.tif"
    frames = [PILImage.fromarray(camera), PILImage.fromarray(camera[::-1])]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    images, _ = load_records([Record(str(path), {"site": "B"})])
    assert len(images) == len(read_image(path)) == 2
    assert all(image.metadata["site"] == "B" for _, image in images)


def test_write_failures_atomic(mixed, tmp_path):
    _, failures = load_records(list_dataset(mixed))
    out = tmp_path / "failures.csv"
    write_failures(failures, out)
    back = pd.read_csv(out)
    pd.testing.assert_frame_equal(back, failures.reset_index(drop=True))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["failures.csv"]


def test_read_options_reach_only_the_reader_that_takes_them(tmp_path, camera, ct_small):
    png = _png(tmp_path / "a.png", camera)
    shutil.copy(ct_small, tmp_path / "ct.dcm")
    images, failures = load_records(
        [Record(str(png)), Record(str(tmp_path / "ct.dcm"))], window="lung", max_slices=3
    )
    assert failures.empty and len(images) == 2
    assert images[1][1].metadata["voi"] == [-600.0, 1500.0]
    np.testing.assert_array_equal(images[0][1].pixels, read_image(png)[0].pixels)


def test_read_record_merges_manifest_and_reader_metadata(tmp_path, ct_small):
    shutil.copy(ct_small, tmp_path / "ct.dcm")
    (image,) = read_record(Record(str(tmp_path / "ct.dcm"), {"site": "A"}), window=(40, 400))
    assert next(iter(image.metadata)) == "site" and image.metadata["Modality"] == "CT"
    assert image.metadata["voi"] == [40.0, 400.0]


def test_unknown_read_option_lists_what_each_reader_takes(tmp_path, camera):
    png = _png(tmp_path / "a.png", camera)
    message = r"'windw'.*raster: max_pixels; dicom: window.*; nifti: axis, stride"
    with pytest.raises(InvalidInputError, match=message):
        load_records([Record(str(png))], windw="lung")
    assert READ_OPTIONS["raster"] == ("max_pixels",)
    assert READ_OPTIONS["nifti"][-1] == "max_pixels"
    assert check_read_options(None) == {}


def test_list_manifest_unique_path_and_frame(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,frame\nv.nii,0\nv.nii,1\nw.png,\n")
    records = list_manifest(manifest, unique=("path", "frame"))
    assert [r.metadata["frame"] for r in records] == [0, 1, None]
    with pytest.raises(InvalidInputError, match="more than once"):
        list_manifest(manifest)
    manifest.write_text("path,frame\nv.nii,0\n./v.nii,0\n")
    with pytest.raises(InvalidInputError, match=r"\(path, frame\) value\(s\).*frame=0"):
        list_manifest(manifest, unique=("path", "frame"))
    with pytest.raises(InvalidInputError, match=r"no column \['site'\]"):
        list_manifest(manifest, unique=("path", "site"))


def test_file_sha256(tmp_path):
    path = tmp_path / "x.bin"
    data = bytes(range(256)) * 9000  # over one read block
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
