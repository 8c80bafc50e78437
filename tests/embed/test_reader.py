"""Worker items: one per file, frames preprocessed, failures returned instead of raised."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import torch
from embed.helpers import SIZE

from fmood.backbones import Preprocessing
from fmood.embed import reader
from fmood.embed.reader import EMBED, FAIL, SKIP, FileDataset, Job, file_loader
from fmood.io import read_image
from fmood.io.dataset import Record


def _job(folder, name, **kwargs) -> Job:
    return Job(Record(os.path.abspath(folder / name), {"site": "A"}), **kwargs)


@pytest.fixture
def preprocessing() -> Preprocessing:
    return Preprocessing(SIZE)


def test_an_item_is_a_file_with_its_frames_preprocessed(folder, preprocessing):
    item = FileDataset([_job(folder, "stack.tif")], preprocessing, {})[0]
    assert item["status"] == EMBED and item["error"] is None
    assert item["sha256"] == hashlib.sha256((folder / "stack.tif").read_bytes()).hexdigest()
    images = read_image(folder / "stack.tif")
    expected = torch.stack([preprocessing(im.pixels) for im in images])
    torch.testing.assert_close(item["pixels"], expected, rtol=0, atol=0)
    assert [row["frame"] for row in item["rows"]] == [0, 1, 2]
    assert all(row["site"] == "A" and row["format"] == "TIFF" for row in item["rows"])
    assert list(item["rows"][0])[:2] == ["frame", "site"]  # manifest before reader fields


def test_bad_files_come_back_as_one_line_errors(folder, preprocessing):
    names = ["empty.png", "truncated.png", "text.dcm", "broken.nii.gz", "missing.png"]
    dataset = FileDataset([_job(folder, n) for n in names], preprocessing, {})
    for name, item in zip(names, dataset, strict=False):
        assert item["status"] == FAIL, name
        assert item["error"].startswith(f"{os.path.abspath(folder / name)}: ")
        assert "\n" not in item["error"]
    assert "no such file" in dataset[4]["error"].lower()


def test_unexpected_decoder_exceptions_do_not_escape(folder, preprocessing, monkeypatch):
    def explode(record, **options):
        raise RuntimeError("decoder bug\nsecond line")

    monkeypatch.setattr(reader, "read_record", explode)
    item = FileDataset([_job(folder, "a.png")], preprocessing, {})[0]
    assert item["status"] == FAIL
    assert item["error"].endswith("unexpected RuntimeError: decoder bug second line")


def test_stored_files_are_hashed_not_decoded(folder, preprocessing, monkeypatch):
    digest = hashlib.sha256((folder / "a.png").read_bytes()).hexdigest()
    monkeypatch.setattr(reader, "read_record", lambda *a, **k: pytest.fail("decoded"))
    jobs = [
        _job(folder, "a.png", stored=True, stored_sha256=digest),
        _job(folder, "a.png", stored=True, stored_sha256=None),  # added without a hash
        _job(folder, "a.png", stored=True, stored_sha256="0" * 64),
    ]
    items = list(FileDataset(jobs, preprocessing, {}))
    assert [i["status"] for i in items] == [SKIP, SKIP, FAIL]
    assert "changed since it was embedded" in items[2]["error"]


def test_a_volume_with_only_empty_slices_is_a_failure(tmp_path, preprocessing):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((8, 8, 3), np.float32), np.eye(4)), tmp_path / "z.nii")
    item = FileDataset([_job(tmp_path, "z.nii")], preprocessing, {})[0]
    assert item["status"] == FAIL and "no image" in item["error"]


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_keeps_order_and_python_objects(folder, preprocessing, workers):
    names = sorted(p.name for p in folder.iterdir())
    dataset = FileDataset([_job(folder, n) for n in names], preprocessing, {"window": "bone"})
    items = list(file_loader(dataset, workers))
    assert [os.path.basename(i["path"]) for i in items] == names
    ok = [i for i in items if i["status"] == EMBED]
    assert all(isinstance(i["rows"], list) and i["pixels"].shape[1:] == (3, SIZE, SIZE) for i in ok)
    ct = next(i for i in ok if i["path"].endswith("ct.dcm"))
    assert ct["rows"][0]["voi"] == [400.0, 1800.0]


def test_dataset_pickles_for_spawned_workers(folder, preprocessing):
    import pickle

    dataset = FileDataset([_job(folder, "a.png")], preprocessing, {"window": "lung"})
    clone = pickle.loads(pickle.dumps(dataset))
    torch.testing.assert_close(clone[0]["pixels"], dataset[0]["pixels"])
