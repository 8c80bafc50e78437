"""Real images that install with pip, decoded with fmood's own readers.

In-distribution subjects
------------------------
The only real whole-brain T1 volume installable from PyPI is the MNI152 2009 template
(nilearn, one averaged, skull-stripped brain, 1 mm). A *subject* is that template under one
random, smooth, 3-D change, drawn from a seeded generator once per subject:

* spatial: torchio ``Affine`` (scales 0.9-1.1 and rotations -8..8 degrees per axis,
  translations -5..5 mm) then torchio ``ElasticDeformation`` (7^3 control points, displacements
  up to 5 mm, two border layers locked), the fixed-parameter counterparts of ``RandomAffine``
  and ``RandomElasticDeformation``;
* intensity: torchio ``Gamma`` (log gamma -0.15..0.15), ``BiasField`` (order 3, coefficients
  -0.15..0.15) and ``Noise`` (std 0.5-2% of the template's range, then the magnitude ``|.|``
  so the background noise is half-normal as in magnitude MR images).

The spatial transform is evaluated in 3-D on a 6 mm grid of template coordinates (torchio
resamples a coordinate image exactly as it resamples intensities, and the transform is
smooth), then the template is sampled at 1 mm, linearly, on the chosen axial planes only.
Slices agree with a direct 1 mm torchio run at correlation 0.997 (the elastic control grid
spans the coordinate grid, 18 mm wider than the volume on each side) at a tenth of the cost.
The intensity transforms act on the subject's stack of chosen slices (a 3-D volume of its
own). Axial slices are taken evenly over the middle 70% of the deformed brain's
superior-inferior extent, written to NIfTI and read back with :func:`fmood.io.read_nifti`
(clipped to its 0.5-99.5 percentiles), and shown in radiological orientation (anterior up,
the patient's right on the image's left).

Other real single-subject T1 volumes in pip packages were checked and not used as subjects:
nibabel's ``tests/data/anatomical.nii`` is a real T1 but only a 66 x 82 x 50 mm box around
the lateral ventricles (33 x 41 x 25 voxels at 2 mm), so it serves the ``mr-brain-small-fov``
set instead; its MINC test volumes need h5py; dipy is not a dependency; nilearn's other
loaders download. pydicom's ``MR_small.dcm`` (a T2 spin echo with a 20 mm field of view and
no stated anatomy) is left out. The other sets' sources are :data:`VOLUME_SOURCES` and
:data:`FILE_SOURCES`.
"""

from __future__ import annotations

import importlib.util
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.spatialimages import SpatialImage
from PIL import Image as PILImage

from fmood.errors import InvalidInputError
from fmood.io import read_dicom, read_nifti, read_raster
from fmood.io.nifti import EMPTY_FRACTION

#: Images larger than this (longest side, pixels) are downscaled (area averaging) when written.
MAX_SIDE = 512
#: Middle share of the brain's (or volume's) axial extent that slices are taken from.
MIDDLE = 0.70
_COARSE_MM = 6
_COARSE_MARGIN = 3
_PAD = -1.0e4  # a template coordinate far outside the volume: samples background


@dataclass(frozen=True)
class Slice:
    """One 2-D image ready to be written.

    pixels : ndarray of shape (H, W) or (H, W, 3), float32 in [0, 1]
    name : the file name without suffix, unique within its set
    patient : the subject or source image it comes from (images of one patient are related)
    source : the package and file (or volume) it was decoded from
    source_frame : slice, frame index or None
    transform : what was done to it (crop, resize, artifact parameters), for the manifest
    anatomy : what it shows
    """

    pixels: np.ndarray
    name: str
    patient: str
    source: str
    source_frame: int | None = None
    transform: str = "none"
    anatomy: str = "brain"


# ---------------------------------------------------------------------------------------------
# Synthetic subjects from the MNI152 template


def derived_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator for one named purpose: stable across runs, platforms and Python hashes."""
    words = [int(seed)] + [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


@dataclass(frozen=True)
class SubjectParameters:
    """The fixed parameters that turn the template into one subject (see module docstring)."""

    scales: tuple[float, float, float]
    degrees: tuple[float, float, float]
    translation: tuple[float, float, float]
    control_points: np.ndarray = field(repr=False)
    log_gamma: float
    bias_coefficients: tuple[float, ...]
    noise_std: float
    noise_seed: int

    @classmethod
    def sample(cls, rng: np.random.Generator) -> SubjectParameters:
        def triple(low: float, high: float) -> tuple[float, float, float]:
            return tuple(float(v) for v in rng.uniform(low, high, 3))  # type: ignore[return-value]

        scales, degrees, translation = triple(0.9, 1.1), triple(-8, 8), triple(-5, 5)
        control_points = rng.uniform(-5.0, 5.0, (7, 7, 7, 3))
        for border in (0, 1, -1, -2):  # as RandomElasticDeformation's two locked borders
            control_points[border] = 0
            control_points[:, border] = 0
            control_points[:, :, border] = 0
        return cls(
            scales=scales,
            degrees=degrees,
            translation=translation,
            control_points=control_points,
            log_gamma=float(rng.uniform(-0.15, 0.15)),
            bias_coefficients=tuple(float(c) for c in rng.uniform(-0.15, 0.15, 20)),
            noise_std=float(rng.uniform(0.005, 0.02)),
            noise_seed=int(rng.integers(2**31 - 1)),
        )

    def summary(self) -> dict[str, float | int]:
        """Scalar parameters, for the subjects table."""
        out: dict[str, float | int] = {}
        for name, values in (
            ("scale", self.scales),
            ("degrees", self.degrees),
            ("translation_mm", self.translation),
        ):
            out.update(
                {f"{name}_{axis}": round(v, 4) for axis, v in zip("xyz", values, strict=True)}
            )
        out["elastic_max_mm"] = round(float(np.abs(self.control_points).max()), 4)
        out["gamma"] = round(float(np.exp(self.log_gamma)), 4)
        out["bias_max_coefficient"] = round(max(abs(c) for c in self.bias_coefficients), 4)
        out["noise_std"] = round(self.noise_std, 4)
        return out


@dataclass(frozen=True)
class Template:
    """A 3-D volume in RAS+ voxel order with 1 mm voxels, intensities >= 0."""

    data: np.ndarray
    affine: np.ndarray
    name: str


def _canonical_template(image: nib.Nifti1Image, name: str) -> Template:
    image = nib.as_closest_canonical(image)
    data = np.asarray(image.dataobj, dtype=np.float32)
    return Template(data=data, affine=image.affine.copy(), name=name)


def mni_template(kind: str = "t1") -> Template:
    """The MNI152 2009 template (``"t1"``) or its tissue probability map (``"gm"``, ``"wm"``)."""
    from nilearn import datasets

    loaders = {
        "t1": datasets.load_mni152_template,
        "gm": datasets.load_mni152_gm_template,
        "wm": datasets.load_mni152_wm_template,
    }
    return _canonical_template(loaders[kind](resolution=1), f"MNI152 2009 {kind.upper()}")


def display_axial(pixels_xy: np.ndarray) -> np.ndarray:
    """An axial RAS+ plane (x, y) in radiological display: anterior up, patient's right left."""
    return np.ascontiguousarray(pixels_xy[::-1, ::-1].T)


def _subject_coordinates(template: Template, parameters: SubjectParameters) -> np.ndarray:
    """Template voxel coordinates, shape (3, X, Y, Z) on the coarse grid, after the transform."""
    import torch  # torch and torchio take seconds to import: only when a dataset is built
    import torchio as tio

    shape = np.array(template.data.shape)
    count = -(-shape // _COARSE_MM) + 2 * _COARSE_MARGIN
    # Coarse voxel j sits at template voxel 3 (j - margin); the grid overhangs the volume so
    # that torchio's padding (the minimum of each channel) lies outside the template too.
    axes = [_COARSE_MM * (np.arange(n) - _COARSE_MARGIN) for n in count]
    grid = np.stack(np.meshgrid(*axes, indexing="ij")).astype(np.float32)
    to_template = np.diag([_COARSE_MM] * 3 + [1]).astype(float)
    to_template[:3, 3] = -_COARSE_MM * _COARSE_MARGIN
    image = tio.ScalarImage(tensor=torch.from_numpy(grid), affine=template.affine @ to_template)
    subject = tio.Subject(coordinates=image)
    subject = tio.Affine(
        scales=parameters.scales,
        degrees=parameters.degrees,
        translation=parameters.translation,
        default_pad_value=_PAD,
    )(subject)
    subject = tio.ElasticDeformation(
        control_points=parameters.control_points,
        max_displacement=(5.0, 5.0, 5.0),
    )(subject)
    moved = subject["coordinates"]
    assert isinstance(moved, tio.ScalarImage)  # torchio types a Subject's items as object
    return moved.data.numpy().astype(np.float64)


def _trilinear(volumes: np.ndarray, points: np.ndarray, padding: str) -> np.ndarray:
    """Linear interpolation of ``volumes`` (C, X, Y, Z) at voxel ``points`` (3, N): (C, N).

    ``padding``: "zeros" (0 outside the volume) or "border" (the nearest edge value).
    """
    import torch
    from torch.nn import functional

    shape = np.array(volumes.shape[1:], dtype=np.float64)
    normalised = 2.0 * points / (shape[:, None] - 1.0) - 1.0
    # grid_sample reads (x, y, z) = (last, middle, first) input axis.
    grid = torch.from_numpy(normalised[::-1].T.astype(np.float32).copy()).view(1, 1, 1, -1, 3)
    source = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32))[None]
    out = functional.grid_sample(
        source, grid, mode="bilinear", padding_mode=padding, align_corners=True
    )
    return out.view(volumes.shape[0], -1).numpy()


def _read_axial(volume: np.ndarray, path: Path, skip_empty: bool) -> list:
    """Axial slices of a RAS+ volume (X, Y, Z), written to NIfTI and read by ``read_nifti``."""
    nib.save(nib.Nifti1Image(np.asarray(volume, dtype=np.float32), np.eye(4)), path)
    return read_nifti(path, axis=2, skip_empty=skip_empty)


def subject_slices(
    template: Template,
    parameters: SubjectParameters,
    n_slices: int,
    subject: str,
    workdir: Path,
) -> list[Slice]:
    """``n_slices`` axial slices of one synthetic subject (see the module docstring)."""
    import torch
    import torchio as tio

    coarse = _subject_coordinates(template, parameters)
    deformed = _trilinear(template.data[None], coarse.reshape(3, -1), "zeros")
    deformed = deformed.reshape(coarse.shape[1:])
    # The deformed brain's superior-inferior extent, in template voxels (1 mm).
    planes = np.flatnonzero((deformed > 0.1).mean(axis=(0, 1)) > 0.01)
    if planes.size == 0:
        raise InvalidInputError(f"subject {subject}: the deformation left no brain in view")
    low = _COARSE_MM * (planes[0] - _COARSE_MARGIN)
    high = _COARSE_MM * (planes[-1] - _COARSE_MARGIN)
    skip = (1 - MIDDLE) / 2 * (high - low)
    positions = np.linspace(low + skip, high - skip, n_slices).round().astype(int)
    if len(set(positions.tolist())) != n_slices:
        raise InvalidInputError(
            f"subject {subject}: {n_slices} slices do not fit 1 mm apart in the brain's middle "
            f"{MIDDLE:.0%} ({high - low} mm); ask for fewer slices per subject"
        )
    nx, ny, _ = template.data.shape
    fine = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), positions, indexing="ij"))
    at = fine.reshape(3, -1) / _COARSE_MM + _COARSE_MARGIN
    mapped = _trilinear(coarse, at, "border")
    slab = _trilinear(template.data[None], mapped, "zeros").reshape(nx, ny, n_slices)

    image = tio.ScalarImage(tensor=torch.from_numpy(np.clip(slab, 0, None))[None])
    for transform in (
        tio.Gamma(gamma=float(np.exp(parameters.log_gamma))),
        tio.BiasField(coefficients=list(parameters.bias_coefficients), order=3),
        tio.Noise(mean=0.0, std=parameters.noise_std, seed=parameters.noise_seed),
    ):
        image = transform(image)
    slab = np.abs(image.data[0].numpy())

    images = _read_axial(slab, workdir / f"{subject}.nii", skip_empty=False)
    return [
        Slice(
            pixels=display_axial(im.pixels),
            name=f"{subject}_z{z:03d}",
            patient=subject,
            source=f"nilearn:{template.name} (synthetic subject)",
            source_frame=int(z),
        )
        for im, z in zip(images, positions, strict=True)
    ]


# ---------------------------------------------------------------------------------------------
# Real volumes and files


def package_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, or None if the package or file is absent.

    Packages are located without being imported (scikit-image's data loaders would try to
    download files that are not in the wheel).
    """
    if package in ("pydicom", "pydicom-data"):
        from pydicom.data import get_testdata_file

        # Never get_testdata_files(pattern): it tries to download.
        found = get_testdata_file(relative, download=False)
        if found is None:
            return None
        path = Path(found)
        in_data_store = "data_store" in path.parts
        return path if in_data_store == (package == "pydicom-data") else None
    module = {"scikit-image": "skimage"}.get(package, package)
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


@dataclass(frozen=True)
class FileSource:
    """One real image file and how many images the dataset takes from it.

    frames : take ``count`` frames evenly (a multi-frame file); otherwise the whole image
        and ``count - 1`` random crops of it.
    window : CT window preset for :func:`fmood.io.read_dicom` (None: the file's own VOI).
    """

    shift: str
    package: str
    file: str
    anatomy: str
    count: int
    frames: bool = False
    window: str | None = None

    @property
    def key(self) -> str:
        return f"{self.package}:{self.file}"


FILE_SOURCES: tuple[FileSource, ...] = (
    FileSource("mr-brain-small-fov", "pydicom-data", "emri_small.dcm", "brain", 10, frames=True),
    FileSource("mr-other-anatomy", "pydicom-data", "MR2_UNCR.dcm", "shoulder", 4),
    FileSource(
        "mr-other-anatomy", "pydicom-data", "MR-SIEMENS-DICOM-WithOverlays.dcm", "abdomen", 4
    ),
    FileSource("ct", "pydicom-data", "693_UNCR.dcm", "head", 4),
    FileSource("ct", "pydicom-data", "explicit_VR-UN.dcm", "abdomen", 4, window="abdomen"),
    FileSource("ct", "pydicom", "CT_small.dcm", "thoracic spine", 2, window="soft-tissue"),
    FileSource("xray", "pydicom-data", "RG1_UNCR.dcm", "chest", 5),
    FileSource("xray", "pydicom-data", "RG3_UNCR.dcm", "lower leg", 5),
    FileSource("ultrasound", "pydicom-data", "US1_UNCR.dcm", "lymph node", 3),
    FileSource("ultrasound", "pydicom-data", "OBXXXX1A.dcm", "fetus", 1),  # crops: mostly black
    FileSource("ultrasound", "pydicom-data", "gdcm-US-ALOKA-16.dcm", "pelvis", 3),
    FileSource("ultrasound", "pydicom-data", "color-pl.dcm", "heart", 2),
    FileSource("ultrasound", "pydicom", "examples_ybr_color.dcm", "heart", 4, frames=True),
    FileSource("nuclear-medicine", "pydicom-data", "JPEG2000_UNC.dcm", "whole body", 3),
    FileSource("fundus", "scikit-image", "data/retina.jpg", "retina", 6),
    FileSource("fundus", "scikit-image", "data/microaneurysms.png", "retina", 2),
    FileSource("histology", "scikit-image", "data/ihc.png", "tissue section", 8),
    FileSource("microscopy", "scikit-image", "data/cell.png", "cells", 4),
    *(
        FileSource("natural", "scikit-image", f"data/{name}", "none", 2)
        for name in (
            "astronaut.png",
            "coffee.png",
            "chelsea.png",
            "rocket.jpg",
            "camera.png",
            "coins.png",
            "moon.png",
            "motorcycle_left.png",
        )
    ),
)


_NILEARN_MAPS = {
    "MNI152-2009-GM": "load_mni152_gm_template",
    "MNI152-2009-WM": "load_mni152_wm_template",
}


@dataclass(frozen=True)
class VolumeSource:
    """Axial slices of a real 3-D image (or the first volume of a 4-D one)."""

    shift: str
    package: str
    file: str
    anatomy: str
    count: int

    @property
    def key(self) -> str:
        return f"{self.package}:{self.file}"

    def available(self) -> bool:
        if self.package == "nilearn":
            return importlib.util.find_spec("nilearn") is not None
        return package_file(self.package, self.file) is not None

    def load(self) -> SpatialImage:
        if self.package == "nilearn":
            from nilearn import datasets

            return getattr(datasets, _NILEARN_MAPS[self.file])(resolution=1)
        path = package_file(self.package, self.file)
        if path is None:
            raise FileNotFoundError(f"{self.key}: the package or the file is not installed")
        image = nib.load(path)
        if not isinstance(image, SpatialImage):
            raise InvalidInputError(
                f"{path}: nibabel reads it as a {type(image).__name__}, not a volume"
            )
        return image


VOLUME_SOURCES: tuple[VolumeSource, ...] = (
    VolumeSource("mr-epi", "nibabel", "tests/data/example4d.nii.gz", "brain", 12),
    VolumeSource("mr-brain-small-fov", "nibabel", "tests/data/anatomical.nii", "brain", 6),
    VolumeSource("brain-tissue-map", "nilearn", "MNI152-2009-GM", "brain", 6),
    VolumeSource("brain-tissue-map", "nilearn", "MNI152-2009-WM", "brain", 6),
)


def _middle(indices: list[int], count: int) -> list[int]:
    """``count`` of ``indices`` evenly over their middle :data:`MIDDLE` share."""
    n = len(indices)
    skip = (1 - MIDDLE) / 2 * (n - 1)
    picks = np.linspace(skip, n - 1 - skip, min(count, n)).round().astype(int)
    return [indices[p] for p in dict.fromkeys(picks.tolist())]


def _nonempty_planes(volume: np.ndarray) -> list[int]:
    """Axial planes that :func:`fmood.io.read_nifti` does not skip as empty."""
    background = volume.min()
    return [
        z
        for z in range(volume.shape[2])
        if volume[..., z].max() > volume[..., z].min()
        and np.mean(volume[..., z] != background) >= EMPTY_FRACTION
    ]


def volume_slices(source: VolumeSource, workdir: Path) -> list[Slice]:
    """Axial slices of a real volume, decoded with :func:`fmood.io.read_nifti` in RAS+ order.

    A file's slices are scaled over its whole volume, as ``fmood embed`` would read it; the
    template's tissue maps, like the synthetic subjects, over the slices taken.
    """
    image = nib.as_closest_canonical(source.load())
    stem = Path(source.file).name.split(".")[0]
    data = np.asarray(image.dataobj, dtype=np.float32)
    if data.ndim == 4:  # as read_nifti: the first volume
        data = data[..., 0]
    chosen = _middle(_nonempty_planes(data), source.count)
    path = workdir / f"{stem}.nii"
    if source.package == "nilearn":
        images = _read_axial(data[..., chosen], path, skip_empty=False)
    else:
        by_index = {im.frame: im for im in _read_axial(data, path, skip_empty=True)}
        images = [by_index[z] for z in chosen]
    return [
        Slice(
            pixels=display_axial(im.pixels),
            name=f"{stem}_z{z:03d}",
            patient=source.key,
            source=source.key,
            source_frame=int(z),
            anatomy=source.anatomy,
        )
        for im, z in zip(images, chosen, strict=True)
    ]


def read_file(source: FileSource, path: Path) -> list:
    """Decode a file with fmood's readers (DICOM with its VOI or the given CT window)."""
    if path.suffix.lower() == ".dcm":
        return read_dicom(path, window=source.window)
    return read_raster(path)


def file_slices(source: FileSource, path: Path, seed: int) -> list[Slice]:
    """The images one file contributes: evenly spaced frames, or the whole image plus crops."""
    images = read_file(source, path)
    stem = Path(source.file).stem
    out = []
    if source.frames:
        picks = np.linspace(0, len(images) - 1, min(source.count, len(images))).round()
        for index in dict.fromkeys(picks.astype(int).tolist()):
            out.append(
                Slice(
                    pixels=images[index].pixels,
                    name=f"{stem}_f{index:03d}",
                    patient=source.key,
                    source=source.key,
                    source_frame=images[index].frame,
                    anatomy=source.anatomy,
                )
            )
        return out
    pixels = images[0].pixels
    rng = derived_rng(seed, "crop", source.key)
    h, w = pixels.shape[:2]
    for k in range(source.count):
        if k == 0:
            box, what = (0, h, 0, w), "whole image"
        else:
            fraction = rng.uniform(0.45, 0.8)
            ch, cw = max(int(h * fraction), 1), max(int(w * fraction), 1)
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            box, what = (
                (y, y + ch, x, x + cw),
                f"crop rows {y}:{y + ch} cols {x}:{x + cw} of {h}x{w}",
            )
        y0, y1, x0, x1 = box
        out.append(
            Slice(
                pixels=np.ascontiguousarray(pixels[y0:y1, x0:x1]),
                name=f"{stem}_{'full' if k == 0 else f'crop{k}'}",
                patient=source.key,
                source=source.key,
                source_frame=images[0].frame,
                transform=what,
                anatomy=source.anatomy,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Writing


def fit_size(pixels: np.ndarray, max_side: int = MAX_SIDE) -> tuple[np.ndarray, str | None]:
    """Downscale (area averaging) so the longest side is at most ``max_side``."""
    h, w = pixels.shape[:2]
    if max(h, w) <= max_side:
        return pixels, None
    scale = max_side / max(h, w)
    size = (max(round(w * scale), 1), max(round(h * scale), 1))
    out: np.ndarray
    if pixels.ndim == 2:
        resized = PILImage.fromarray(pixels.astype(np.float32), mode="F").resize(
            size, PILImage.Resampling.BOX
        )
        out = np.asarray(resized, dtype=np.float32)
    else:
        rgb = PILImage.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8), "RGB")
        out = np.asarray(rgb.resize(size, PILImage.Resampling.BOX), dtype=np.float32) / 255
    return np.clip(out, 0.0, 1.0), f"resized to {size[1]}x{size[0]}"


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Grey as a 16-bit PNG, colour as an 8-bit RGB PNG (what fmood's raster reader reads)."""
    pixels = np.clip(np.asarray(pixels, dtype=np.float64), 0.0, 1.0)
    if pixels.ndim == 2:
        image = PILImage.fromarray(np.round(pixels * 65535).astype(np.uint16))
    else:
        image = PILImage.fromarray(np.round(pixels * 255).astype(np.uint8), "RGB")
    image.save(path, format="PNG", compress_level=1)  # level 6 triples the build's write time


def new_workdir() -> tempfile.TemporaryDirectory:
    """A scratch folder for intermediate NIfTI files (outside the dataset)."""
    return tempfile.TemporaryDirectory(prefix="fmood-medical-")
