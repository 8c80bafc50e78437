"""Data in: read one medical image file into 2-D float32 images in [0, 1].

``read_image`` picks the reader from the file name:

* ``.png .jpg .jpeg .tif .tiff`` -> :func:`read_raster`
* ``.dcm .dicom``, or no suffix with a DICOM 'DICM' preamble -> :func:`read_dicom`
* ``.nii .nii.gz`` -> :func:`read_nifti`

Only regular files are read, and an image (a raster, a page, a slice) of more than
``max_pixels`` pixels (default :data:`MAX_PIXELS`) is refused from its header, before it
is decoded. ``.npy`` arrays are read by :mod:`fmood.io.arrays`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fmood._extras import missing_extra
from fmood.errors import InvalidInputError
from fmood.io.image import MAX_PIXELS, Image, check_file

if TYPE_CHECKING:
    from fmood.io.dicom import CT_WINDOWS, read_dicom
    from fmood.io.nifti import read_nifti
    from fmood.io.raster import read_raster

    SUPPORTED_SUFFIXES: tuple[str, ...]

# The readers import pydicom, nibabel and Pillow ('fmood[medical]'): they load on first use,
# so that fmood.io.arrays works with the core install alone.
#: Public name -> the reader module that defines it.
_LAZY = {
    "CT_WINDOWS": "fmood.io.dicom",
    "DICOM_SUFFIXES": "fmood.io.dicom",
    "read_dicom": "fmood.io.dicom",
    "NIFTI_SUFFIXES": "fmood.io.nifti",
    "read_nifti": "fmood.io.nifti",
    "RASTER_SUFFIXES": "fmood.io.raster",
    "read_raster": "fmood.io.raster",
}

__all__ = [
    "CT_WINDOWS",
    "MAX_PIXELS",
    "SUPPORTED_SUFFIXES",
    "Image",
    "read_dicom",
    "read_image",
    "read_nifti",
    "read_raster",
]


def _load(name: str) -> Any:
    try:
        return getattr(importlib.import_module(_LAZY[name]), name)
    except ModuleNotFoundError as exc:
        raise missing_extra(exc, "reading images", "medical") from exc


def __getattr__(name: str) -> Any:
    if name == "SUPPORTED_SUFFIXES":
        value = _load("RASTER_SUFFIXES") + _load("DICOM_SUFFIXES") + _load("NIFTI_SUFFIXES")
    elif name in _LAZY:
        value = _load(name)
    else:
        raise AttributeError(f"module 'fmood.io' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def _has_dicom_preamble(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def read_image(path: str | Path, **options: Any) -> list[Image]:
    """Read ``path`` with the reader its suffix names, passing ``options`` on.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InvalidInputError
        The suffix is not supported (the message lists those that are), or the
        reader rejected the content.
    """
    from fmood.io import (
        DICOM_SUFFIXES,
        NIFTI_SUFFIXES,
        RASTER_SUFFIXES,
        SUPPORTED_SUFFIXES,
        read_dicom,
        read_nifti,
        read_raster,
    )

    path = check_file(path)
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return read_nifti(path, **options)
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return read_raster(path, **options)
    if suffix in DICOM_SUFFIXES or (suffix == "" and _has_dicom_preamble(path)):
        return read_dicom(path, **options)
    raise InvalidInputError(
        f"{path}: unsupported file type {suffix or '(no suffix, no DICOM preamble)'!r}; "
        f"supported: {', '.join(SUPPORTED_SUFFIXES)} or a DICOM file without suffix"
    )
