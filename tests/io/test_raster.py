"""Raster reader on skimage's bundled images written to PNG / TIFF / JPEG with Pillow."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image as PILImage
from skimage import data

from fmood.errors import InvalidInputError
from fmood.io import read_image
from fmood.io.raster import read_raster


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    return data.camera()  # (512, 512) uint8


@pytest.fixture(scope="module")
def retina() -> np.ndarray:
    return data.retina()[::4, ::4]  # RGB uint8, shrunk to keep tests fast


def test_grey_8bit_png_scaled_by_255(tmp_path, camera):
    path = tmp_path / "camera.png"
    PILImage.fromarray(camera).save(path)
    (image,) = read_raster(path)
    assert image.pixels.dtype == np.float32
    assert image.pixels.shape == camera.shape
    np.testing.assert_array_equal(image.pixels, camera.astype(np.float32) / np.float32(255))
    assert image.frame is None
    assert image.source == str(path)


def test_rgb_png_exact(tmp_path, retina):
    path = tmp_path / "retina.png"
    PILImage.fromarray(retina).save(path)
    (image,) = read_image(path)
    assert image.pixels.shape == retina.shape
    np.testing.assert_array_equal(image.pixels, retina.astype(np.float32) / np.float32(255))


def test_rgba_alpha_dropped(tmp_path, retina):
    alpha = np.full((*retina.shape[:2], 1), 77, dtype=np.uint8)
    path = tmp_path / "retina_rgba.png"
    PILImage.fromarray(np.concatenate([retina, alpha], axis=2), mode="RGBA").save(path)
    (image,) = read_raster(path)
    assert image.pixels.shape == retina.shape
    np.testing.assert_array_equal(image.pixels, retina.astype(np.float32) / np.float32(255))


def test_palette_becomes_rgb(tmp_path, retina):
    path = tmp_path / "palette.png"
    palette = PILImage.fromarray(retina).quantize(colors=16)
    palette.save(path)
    expected = np.asarray(palette.convert("RGB"), dtype=np.float32) / np.float32(255)
    (image,) = read_raster(path)
    assert image.pixels.shape == retina.shape
    np.testing.assert_array_equal(image.pixels, expected)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_grey_16bit_scaled_by_65535(tmp_path, camera, suffix):
    wide = camera.astype(np.uint16) * 257 + 3  # spans the 16-bit range, not a multiple of 257
    path = tmp_path / f"camera16{suffix}"
    PILImage.fromarray(wide).save(path)
    (image,) = read_image(path)
    assert image.pixels.shape == camera.shape
    np.testing.assert_allclose(
        image.pixels, wide.astype(np.float32) / np.float32(65535), rtol=0, atol=1e-7
    )
    assert image.pixels.max() <= 1.0


def test_jpeg_grey_in_unit_range(tmp_path, camera):
    path = tmp_path / "camera.jpg"
    PILImage.fromarray(camera).save(path, quality=95)
    (image,) = read_image(path)
    assert image.pixels.shape == camera.shape
    assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0
    assert np.abs(image.pixels - camera / 255.0).mean() < 0.02  # lossy, but close


def test_multipage_tiff_one_image_per_page(tmp_path, camera):
    path = tmp_path / "pages.tif"
    pages = [PILImage.fromarray(camera), PILImage.fromarray(255 - camera)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    images = read_raster(path)
    assert [image.frame for image in images] == [0, 1]
    np.testing.assert_array_equal(
        images[1].pixels, (255 - camera).astype(np.float32) / np.float32(255)
    )


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InvalidInputError, match="empty.png"):
        read_raster(path)


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(InvalidInputError, match="notes.png"):
        read_image(path)


def test_truncated_png(tmp_path, camera):
    whole = tmp_path / "whole.png"
    PILImage.fromarray(camera).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InvalidInputError, match="cut.png"):
        read_raster(cut)


def test_corrupt_jpeg(tmp_path, camera):
    whole = tmp_path / "whole.jpg"
    PILImage.fromarray(camera).save(whole)
    raw = bytearray(whole.read_bytes())
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(bytes(raw[:200]))
    with pytest.raises(InvalidInputError, match="bad.jpg"):
        read_raster(bad)


def test_missing_file_named():
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        read_image("/nonexistent/nowhere.png")


def test_unknown_suffix_lists_supported(tmp_path):
    path = tmp_path / "scan.xyz"
    path.write_bytes(b"abc")
    with pytest.raises(InvalidInputError, match=r"scan\.xyz.*\.png.*\.dcm.*\.nii\.gz"):
        read_image(path)


def test_more_pixels_than_max_pixels_is_refused_before_decoding(tmp_path, camera):
    path = tmp_path / "camera.png"
    PILImage.fromarray(camera).save(path)
    message = r"camera.png: image of 512 x 512 = 262,144 pixels .*= 262,143.*--max-pixels"
    with pytest.raises(InvalidInputError, match=message):
        read_raster(path, max_pixels=512 * 512 - 1)
    assert read_raster(path, max_pixels=512 * 512)[0].pixels.shape == (512, 512)
    with pytest.raises(InvalidInputError, match="max_pixels must be a positive integer"):
        read_raster(path, max_pixels=0)


def test_default_max_pixels_is_the_module_constant(tmp_path, camera, monkeypatch):
    path = tmp_path / "camera.png"
    PILImage.fromarray(camera).save(path)
    monkeypatch.setattr("fmood.io.image.MAX_PIXELS", 1000)
    with pytest.raises(InvalidInputError, match="max_pixels = 1,000"):
        read_image(path)


def test_each_tiff_page_is_checked(tmp_path, camera):
    path = tmp_path / "pages.tif"
    pages = [PILImage.fromarray(camera[:8, :8]), PILImage.fromarray(camera)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    with pytest.raises(InvalidInputError, match="page 1 of 512 x 512"):
        read_raster(path, max_pixels=1000)


def test_band_conversion_matches_whole_image(tmp_path, retina, monkeypatch):
    """Images converted in several bands equal the whole-image conversion."""
    monkeypatch.setattr("fmood.io.raster._BAND_PIXELS", 3 * retina.shape[1] + 7)
    path = tmp_path / "retina.png"
    PILImage.fromarray(retina).convert("P").save(path)
    expected = np.asarray(PILImage.open(path).convert("RGB"), dtype=np.float32) / np.float32(255)
    np.testing.assert_array_equal(read_raster(path)[0].pixels, expected)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "dir"])
def test_non_regular_files_are_refused(tmp_path, special):
    if special == "fifo":
        special = tmp_path / "pipe.png"
        os.mkfifo(special)
    elif special == "dir":
        special = tmp_path / "folder.png"
        special.mkdir()
    with pytest.raises(InvalidInputError, match="not a regular file"):
        read_image(special)
