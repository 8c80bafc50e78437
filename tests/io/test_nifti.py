"""NIfTI reader on nibabel's bundled test volumes."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path

from fmood.errors import InvalidInputError
from fmood.io import read_image
from fmood.io.nifti import read_nifti

EXAMPLE_4D = os.path.join(data_path, "example4d.nii.gz")  # (128, 96, 24, 2)
ANATOMICAL = os.path.join(data_path, "anatomical.nii")  # (33, 41, 25)


def test_4d_reads_first_volume_all_slices():
    images = read_image(EXAMPLE_4D)
    assert len(images) == 24
    assert [image.frame for image in images] == list(range(24))
    assert all(
        image.pixels.shape == (128, 96) and image.pixels.dtype == np.float32 for image in images
    )
    meta = images[0].metadata
    assert meta["shape"] == [128, 96, 24, 2]
    assert meta["volume"] == 0 and meta["n_volumes"] == 2
    assert meta["zooms"] == pytest.approx([2.0, 2.0, 2.2], abs=1e-5)
    assert meta["axis"] == 2


@pytest.mark.parametrize(("stride", "expected"), [(1, 25), (3, 9), (10, 3)])
def test_stride_slice_counts(stride, expected):
    images = read_nifti(ANATOMICAL, stride=stride)
    assert len(images) == expected
    assert [image.frame for image in images] == list(range(0, 25, stride))


def test_max_slices_evenly_spaced():
    images = read_nifti(ANATOMICAL, max_slices=5)
    assert [image.frame for image in images] == [0, 6, 12, 18, 24]
    assert len(read_nifti(ANATOMICAL, max_slices=100)) == 25


@pytest.mark.parametrize(("axis", "shape", "count"), [(0, (41, 25), 33), (1, (33, 25), 41)])
def test_other_axes(axis, shape, count):
    images = read_nifti(ANATOMICAL, axis=axis)
    assert len(images) == count
    assert images[0].pixels.shape == shape


def test_values_in_unit_range_and_clipped_to_percentiles():
    volume = np.asarray(nib.load(ANATOMICAL).dataobj, dtype=np.float64)
    low, high = np.percentile(volume, [0.5, 99.5])
    images = read_nifti(ANATOMICAL, skip_empty=False)
    stack = np.stack([image.pixels for image in images], axis=2)
    assert stack.min() == 0.0 and stack.max() == 1.0
    expected = (np.clip(volume, low, high) - low) / (high - low)
    np.testing.assert_allclose(stack, expected, atol=1e-6)
    # clipping saturates the tails: as many voxels at 1 as lie at or above the high percentile
    assert np.count_nonzero(stack == 1.0) == np.count_nonzero(volume >= high)
    assert images[0].metadata["clip_range"] == pytest.approx([low, high])


def test_no_clipping_is_min_max():
    volume = np.asarray(nib.load(ANATOMICAL).dataobj, dtype=np.float64)
    images = read_nifti(ANATOMICAL, skip_empty=False, clip_percentiles=(0, 100))
    stack = np.stack([image.pixels for image in images], axis=2)
    np.testing.assert_allclose(
        stack, (volume - volume.min()) / (volume.max() - volume.min()), atol=1e-6
    )


def test_empty_slices_skipped(tmp_path):
    """Pad anatomical.nii with background slices and a nearly-empty one; only real slices survive."""
    original = nib.load(ANATOMICAL)
    volume = np.asarray(original.dataobj, dtype=np.float32)
    background = volume.min()
    padded = np.full((*volume.shape[:2], volume.shape[2] + 4), background, dtype=np.float32)
    padded[:, :, 2:-2] = volume
    padded[0, 0, 0] = volume.max()  # 1 voxel of 33*41 (< 1 %) differs from background: still empty
    path = tmp_path / "padded.nii.gz"
    nib.save(nib.Nifti1Image(padded, original.affine), path)

    kept = read_image(path)
    assert [image.frame for image in kept] == list(range(2, 27))
    assert len(read_nifti(path, skip_empty=False)) == 29


def test_bad_parameters_and_files(tmp_path):
    with pytest.raises(InvalidInputError, match="axis"):
        read_nifti(ANATOMICAL, axis=3)
    with pytest.raises(InvalidInputError, match="stride"):
        read_nifti(ANATOMICAL, stride=0)
    fake = tmp_path / "fake.nii.gz"
    fake.write_text("not a nifti volume")
    with pytest.raises(InvalidInputError, match="fake.nii.gz"):
        read_image(fake)


def _reference(path, axis, stride):
    """The whole volume, slices along ``axis`` first, clipped to the percentiles of every
    ``stride``-th slice and scaled as the reader documents."""
    volume = np.moveaxis(np.asarray(nib.load(path).dataobj, dtype=np.float64), axis, 0)
    low, high = np.percentile(volume[::stride], [0.5, 99.5])
    return (np.clip(volume, low, high) - low) / (high - low)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_slices_read_in_slabs_equal_the_whole_volume(axis, monkeypatch):
    monkeypatch.setattr("fmood.io.nifti._SLAB_BYTES", 3 * 33 * 41 * 8)  # 3 on-disk slices per slab
    images = read_nifti(ANATOMICAL, axis=axis, skip_empty=False, stride=2)
    expected = _reference(ANATOMICAL, axis, stride=2)
    assert [image.frame for image in images] == list(range(0, expected.shape[0], 2))
    for image in images:
        np.testing.assert_allclose(image.pixels, expected[image.frame], atol=1e-6)


def test_percentiles_beyond_the_sample_are_estimated_from_a_regular_subsample(monkeypatch):
    monkeypatch.setattr("fmood.io.nifti.PERCENTILE_SAMPLE", 2000)  # the volume has 33,825 voxels
    volume = np.asarray(nib.load(ANATOMICAL).dataobj, dtype=np.float64)
    low, high = read_nifti(ANATOMICAL)[0].metadata["clip_range"]
    exact_low, exact_high = np.percentile(volume, [0.5, 99.5])
    spread = volume.max() - volume.min()
    assert abs(low - exact_low) < 0.05 * spread and abs(high - exact_high) < 0.05 * spread
    assert (low, high) != (exact_low, exact_high)


def test_slices_over_max_pixels_are_refused_from_the_header():
    message = r"anatomical.nii: a slice along axis 2 of 33 x 41 .*max_pixels"
    with pytest.raises(InvalidInputError, match=message):
        read_nifti(ANATOMICAL, max_pixels=33 * 41 - 1)
    assert len(read_nifti(ANATOMICAL, max_pixels=33 * 41)) == 25
    with pytest.raises(InvalidInputError, match="on-disk slice"):
        read_nifti(ANATOMICAL, axis=0, max_pixels=41 * 25)


def test_no_finite_voxel_names_the_file(tmp_path):
    path = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(np.full((4, 4, 3), np.nan, dtype=np.float32), np.eye(4)), path)
    with pytest.raises(InvalidInputError, match=r"nan.nii.gz: volume has no finite voxel"):
        read_nifti(path)


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "cut.nii.gz"
    full = tmp_path / "full.nii.gz"
    nib.save(nib.load(ANATOMICAL), full)
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InvalidInputError, match="cut.nii.gz: not a readable NIfTI file"):
        read_nifti(path)
