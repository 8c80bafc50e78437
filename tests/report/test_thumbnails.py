"""Thumbnails of stored images, frames of multi-image files, and placeholders."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file

from fmood.report.thumbnails import ThumbnailMaker


def _decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_a_large_png_is_shrunk_to_the_thumbnail_size(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.full((400, 200), 200, dtype=np.uint8)).save(path)
    thumb = ThumbnailMaker(size=64)(str(path), None)
    assert thumb.reason is None
    picture = _decode(thumb.data_uri)
    assert picture.size == (32, 64) and picture.mode == "L"
    assert abs(np.asarray(picture).mean() - 200) < 1


def test_the_stored_frame_of_a_multipage_tiff_is_shown(tmp_path):
    path = tmp_path / "stack.tif"
    pages = [Image.fromarray(np.full((8, 8), v, dtype=np.uint8)) for v in (10, 120, 250)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    make = ThumbnailMaker()
    assert abs(np.asarray(_decode(make(str(path), 2).data_uri)).mean() - 250) < 1
    assert abs(np.asarray(_decode(make(str(path), np.int64(1)).data_uri)).mean() - 120) < 1
    assert abs(np.asarray(_decode(make(str(path), pd.NA).data_uri)).mean() - 10) < 1
    out_of_range = make(str(path), 7)
    assert out_of_range.data_uri is None and "frame 7" in out_of_range.reason


def test_colour_images_stay_colour(tmp_path):
    path = tmp_path / "rgb.png"
    Image.fromarray(np.full((10, 10, 3), [255, 0, 0], dtype=np.uint8)).save(path)
    assert _decode(ThumbnailMaker()(str(path), None).data_uri).mode == "RGB"


def test_missing_unreadable_and_absent_files_get_a_reason(tmp_path):
    make = ThumbnailMaker()
    assert make(str(tmp_path / "gone.png"), None).reason == "file not found"
    (tmp_path / "bad.png").write_bytes(b"garbage")
    bad = make(str(tmp_path / "bad.png"), None)
    assert bad.data_uri is None and bad.reason.startswith("not a readable image")
    (tmp_path / "notes.txt").write_text("hello")
    assert "unsupported file type" in make(str(tmp_path / "notes.txt"), None).reason
    assert make(None, None).reason == "no file path stored for this image"
    assert make(pd.NA, None).reason == "no file path stored for this image"


def _dicom(tmp_path, **tags) -> str:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    path = tmp_path / "scan.dcm"
    ds.save_as(path)
    return str(path)


def test_a_dicom_with_burned_in_annotation_gets_a_placeholder_not_its_pixels(tmp_path):
    make = ThumbnailMaker()
    assert make(_dicom(tmp_path), None).data_uri is not None  # the same file, unflagged
    thumb = ThumbnailMaker()(_dicom(tmp_path, BurnedInAnnotation="YES"), None)
    assert thumb.data_uri is None and thumb.reason == "pixels withheld: burned-in annotation"
    thumb = ThumbnailMaker()(_dicom(tmp_path, RecognizableVisualFeatures="YES"), None)
    assert thumb.data_uri is None
    assert thumb.reason == "pixels withheld: recognizable visual features"


def test_a_stored_pixels_withheld_reason_hides_even_a_clean_file(tmp_path):
    path = tmp_path / "face.png"
    Image.fromarray(np.full((8, 8), 99, dtype=np.uint8)).save(path)
    make = ThumbnailMaker()
    thumb = make(str(path), None, "recognizable visual features")
    assert thumb.data_uri is None
    assert thumb.reason == "pixels withheld: recognizable visual features"
    assert make(str(path), None, True).reason == "pixels withheld: marked in the stored metadata"
    for no_reason in (None, pd.NA, float("nan"), "", False):
        assert make(str(path), None, no_reason).data_uri is not None
