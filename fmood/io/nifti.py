"""Read NIfTI volumes with nibabel and cut them into 2-D slices.

Rules, all per file:

* A 4-D file contributes its first volume only (``metadata["volume"] == 0``);
  other dimensionalities than 3-D and 4-D are refused.
* The volume is never loaded whole: nibabel's array proxy is read in two sequential
  passes over the file, one slice (``axis=2``) or one slab of on-disk slices (``axis``
  0 or 1, about 32 MiB at a time) after the other. The first pass looks at the
  *considered* slices (every ``stride``-th along ``axis``), the second decodes the
  selected ones only. Memory is the returned images plus one slab plus the percentile
  sample.
* Intensities (after the header's scl_slope/scl_inter) are clipped to the
  ``clip_percentiles`` of the finite voxels of the considered slices, then scaled to
  [0, 1] by that clip range; a constant volume becomes all zeros. The percentiles are
  exact when the considered slices hold at most ``PERCENTILE_SAMPLE`` (2**24) voxels
  (with ``stride=1``: the whole volume); beyond, they are those of every k-th voxel of
  the considered slices, a regular subsample of at most 2**24 voxels.
  Non-finite voxels are set to the lower clip value.
* Slices are taken along ``axis`` (``volume[..., index, ...]`` at that axis); the two
  other array axes keep their on-disk order (no reorientation to RAS).
* A slice is *empty* when it has no finite value, when all its finite values are equal,
  or when fewer than ``EMPTY_FRACTION`` (1 %) of its voxels differ from the lowest
  finite value of the considered slices (the background: 0 for most MR, -1024 for CT).
  Empty slices are skipped when ``skip_empty`` is true.
* Selection order: every ``stride``-th slice, then empty ones dropped, then,
  when more than ``max_slices`` remain, ``max_slices`` of them evenly spaced.
* A slice of more than ``max_pixels`` voxels (default :data:`fmood.io.image.MAX_PIXELS`)
  is refused from the header, and so is, for ``axis`` 0 or 1, an on-disk slice (the
  first two axes), since those are read whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.fileholders import FileHolder
from nibabel.openers import ImageOpener
from nibabel.spatialimages import SpatialImage

from fmood.errors import InvalidInputError
from fmood.io.image import Image, check_file, check_pixels, resolve_max_pixels

NIFTI_SUFFIXES = (".nii", ".nii.gz")

EMPTY_FRACTION = 0.01
#: Most voxels the clip percentiles are computed from (128 MiB as float64).
PERCENTILE_SAMPLE = 2**24
_SLAB_BYTES = 2**25


@dataclass(frozen=True)
class _Volume:
    """The first 3-D volume of an opened file, read through nibabel's array proxy."""

    proxy: Any
    shape: tuple[int, ...]
    zooms: tuple[float, ...]
    axis: int

    @property
    def plane_shape(self) -> tuple[int, int]:
        return _plane_shape(self.shape, self.axis)

    def blocks(self, indices: list[int]) -> Iterator[tuple[list[int], slice, np.ndarray]]:
        """Yield (positions, columns, parts) covering the slices ``indices`` (increasing).

        ``parts`` has shape (len(positions), rows, width), float64; ``parts[k]`` is
        ``slice(indices[positions[k]])[:, columns]``. One sequential pass over the file.
        """
        # The index tuple is built apart: mypy takes x[(a, *b)] for 3.11's x[a, *b].
        first: tuple[int, ...] = (0,) if len(self.shape) == 4 else ()
        if self.axis == 2:
            for position, index in enumerate(indices):
                key = (slice(None), slice(None), index, *first)
                plane = self.proxy[key]
                yield [position], slice(None), np.asarray(plane, dtype=np.float64)[None]
            return
        if not indices:
            return
        depth = self.shape[2]
        step = max(1, _SLAB_BYTES // (8 * self.shape[0] * self.shape[1]))
        positions = list(range(len(indices)))
        for start in range(0, depth, step):
            columns = slice(start, min(start + step, depth))
            key = (slice(None), slice(None), columns, *first)
            slab = np.asarray(self.proxy[key])
            parts = np.moveaxis(np.take(slab, indices, axis=self.axis), self.axis, 0)
            yield positions, columns, parts.astype(np.float64)


def _plane_shape(shape: tuple[int, ...], axis: int) -> tuple[int, int]:
    rows, columns = (n for i, n in enumerate(shape[:3]) if i != axis)
    return rows, columns


@contextmanager
def _opened(path: Path, axis: int, max_pixels: int) -> Iterator[_Volume]:
    """The file's first volume, read through one file handle closed on exit."""
    header_only = nib.load(path)
    if not isinstance(header_only, SpatialImage):
        raise InvalidInputError(
            f"{path}: nibabel reads it as a {type(header_only).__name__}, not a NIfTI volume"
        )
    shape = tuple(int(n) for n in header_only.shape)
    if len(shape) not in (3, 4):
        raise InvalidInputError(
            f"{path}: NIfTI image has {len(shape)} dimensions {shape}; expected a 3-D or 4-D volume"
        )
    zooms = tuple(float(z) for z in header_only.header.get_zooms())
    check_pixels(path, f"a slice along axis {axis}", _plane_shape(shape, axis), max_pixels)
    if axis != 2:
        check_pixels(path, f"an on-disk slice (read whole for axis {axis})", shape[:2], max_pixels)
    with ImageOpener(str(path)) as handle:
        # nibabel annotates fileobj as io.IOBase; it reads any file-like, its own opener too.
        holder = FileHolder(str(path), handle)  # type: ignore[arg-type]
        image = type(header_only).from_file_map({"image": holder})
        yield _Volume(image.dataobj, shape, zooms, axis)


def _first_pass(
    volume: _Volume, considered: list[int], percentiles: tuple[float, float]
) -> tuple[float, float, np.ndarray]:
    """Clip values from the considered slices and, per considered slice, whether it is empty."""
    n, size = len(considered), math.prod(volume.plane_shape)
    step = max(1, math.ceil(n * size / PERCENTILE_SAMPLE))
    sample = np.empty(math.ceil(n * size / step), dtype=np.float64)
    filled, phase = 0, 0
    lowest = np.full(n, np.inf)  # per slice, over finite voxels
    highest = np.full(n, -np.inf)
    at_lowest = np.zeros(n, dtype=np.int64)
    n_finite = np.zeros(n, dtype=np.int64)
    for positions, _, parts in volume.blocks(considered):
        flat = parts.reshape(len(positions), -1)
        taken = flat.reshape(-1)[phase::step]
        sample[filled : filled + taken.size] = taken
        filled += taken.size
        phase = (phase - flat.size) % step
        finite = np.isfinite(flat)
        part_low = np.where(finite, flat, np.inf).min(axis=1)
        part_high = np.where(finite, flat, -np.inf).max(axis=1)
        part_at_low = ((flat == part_low[:, None]) & finite).sum(axis=1)
        rows = np.asarray(positions)
        at_lowest[rows] = np.where(
            part_low < lowest[rows],
            part_at_low,
            at_lowest[rows] + np.where(part_low == lowest[rows], part_at_low, 0),
        )
        lowest[rows] = np.minimum(lowest[rows], part_low)
        highest[rows] = np.maximum(highest[rows], part_high)
        n_finite[rows] += finite.sum(axis=1)
    sample = sample[:filled]
    finite_sample = np.isfinite(sample)
    if not finite_sample.all():
        sample = sample[finite_sample]
    del finite_sample
    if not n_finite.any():
        raise InvalidInputError(f"volume has no finite voxel values in the {n} slice(s) read")
    if sample.size == 0:  # every finite voxel fell between the subsample's steps
        raise InvalidInputError("too few finite voxel values to estimate the clip percentiles")
    low, high = (float(v) for v in np.percentile(sample, percentiles, overwrite_input=True))
    background = lowest[n_finite > 0].min()
    empty = (
        (n_finite == 0)
        | (highest == lowest)
        | ((lowest == background) & (size - at_lowest < EMPTY_FRACTION * size))
    )
    return low, high, empty


def _scaled(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """float64 ``values`` clipped to [low, high] and mapped to [0, 1] (non-finite to 0), float32."""
    if high <= low:
        return np.zeros(values.shape, dtype=np.float32)
    values = np.where(np.isfinite(values), values, low)
    np.clip(values, low, high, out=values)
    values -= low
    values /= high - low
    return values.astype(np.float32)


def _select(considered: list[int], empty: np.ndarray, max_slices: int | None) -> list[int]:
    indices = [index for index, skip in zip(considered, empty, strict=True) if not skip]
    if max_slices is not None and len(indices) > max_slices:
        positions = np.linspace(0, len(indices) - 1, max_slices).round().astype(int)
        indices = [indices[p] for p in positions]
    return indices


def _read(
    path: Path,
    axis: int,
    stride: int,
    max_slices: int | None,
    skip_empty: bool,
    percentiles: tuple[float, float],
    max_pixels: int,
) -> list[Image]:
    with _opened(path, axis, max_pixels) as volume:
        considered = list(range(0, volume.shape[axis], stride))
        low, high, empty = _first_pass(volume, considered, percentiles)
        indices = _select(considered, empty if skip_empty else np.zeros_like(empty), max_slices)
        pixels = [np.empty(volume.plane_shape, dtype=np.float32) for _ in indices]
        for positions, columns, parts in volume.blocks(indices):
            for part, position in zip(parts, positions, strict=True):
                pixels[position][:, columns] = _scaled(part, low, high)
    shape = volume.shape
    metadata = {
        "zooms": list(volume.zooms[:3]),
        "shape": list(shape),
        "axis": axis,
        "volume": 0,
        "n_volumes": shape[3] if len(shape) == 4 else 1,
        "clip_range": [low, high],
    }
    return [
        Image(pixels=plane, source=str(path), frame=int(index), metadata=dict(metadata))
        for index, plane in zip(indices, pixels, strict=True)
    ]


def read_nifti(
    path: str | Path,
    *,
    axis: int = 2,
    stride: int = 1,
    max_slices: int | None = None,
    skip_empty: bool = True,
    clip_percentiles: tuple[float, float] = (0.5, 99.5),
    max_pixels: int | None = None,
) -> list[Image]:
    """Read a 3-D (or the first volume of a 4-D) NIfTI file into 2-D slices.

    Parameters
    ----------
    path : str or Path
        A ``.nii`` or ``.nii.gz`` file.
    axis : {0, 1, 2}
        Array axis to slice along (2 is axial for the usual RAS-like storage).
    stride : int >= 1
        Keep every ``stride``-th slice.
    max_slices : int >= 1 or None
        At most this many slices, evenly spaced among those kept.
    skip_empty : bool
        Drop empty slices (see module docstring for the definition).
    clip_percentiles : (low, high)
        Percentiles of the finite voxels of every ``stride``-th slice (subsampled beyond
        ``PERCENTILE_SAMPLE`` voxels) that intensities are clipped to before scaling to [0, 1].
    max_pixels : int >= 1 or None
        Refuse a file whose slices have more voxels; None uses
        :data:`fmood.io.image.MAX_PIXELS`.

    Returns
    -------
    list of Image
        Pixels of shape (H, W), float32 in [0, 1], where (H, W) are the volume's
        remaining two axes in order; ``frame`` is the slice index along ``axis``.
        ``metadata``: ``zooms`` (voxel sizes), ``shape`` (on-disk shape), ``axis``,
        ``volume`` (0) and ``n_volumes``, ``clip_range`` (the clip values used).
    """
    path = check_file(path)
    if axis not in (0, 1, 2):
        raise InvalidInputError(f"{path}: axis must be 0, 1 or 2, got {axis!r}")
    if not isinstance(stride, int) or stride < 1:
        raise InvalidInputError(f"{path}: stride must be an integer >= 1, got {stride!r}")
    if max_slices is not None and (not isinstance(max_slices, int) or max_slices < 1):
        raise InvalidInputError(
            f"{path}: max_slices must be an integer >= 1 or None, got {max_slices!r}"
        )
    low_pct, high_pct = clip_percentiles
    if not 0 <= low_pct < high_pct <= 100:
        raise InvalidInputError(
            f"{path}: clip_percentiles must satisfy 0 <= low < high <= 100, got {clip_percentiles!r}"
        )
    max_pixels = resolve_max_pixels(path, max_pixels)
    try:
        return _read(path, axis, stride, max_slices, skip_empty, (low_pct, high_pct), max_pixels)
    except InvalidInputError as error:
        message = str(error)
        if message.startswith(str(path)):
            raise
        raise InvalidInputError(f"{path}: {message}") from error
    except Exception as error:  # nibabel raises ImageFileError, EOFError, OSError, zlib errors...
        raise InvalidInputError(f"{path}: not a readable NIfTI file ({error})") from error
