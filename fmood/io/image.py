"""The result type every reader returns: one 2-D image scaled to [0, 1]."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fmood.errors import InvalidInputError


@dataclass(frozen=True)
class Image:
    """One 2-D image read from a file, ready for a backbone's preprocessing.

    Parameters
    ----------
    pixels : ndarray of shape (H, W) or (H, W, 3), float32
        Grey or RGB intensities scaled to [0, 1]; high = bright.
    source : str
        Path of the file the image came from.
    frame : int or None
        Frame (DICOM, multi-page TIFF) or slice (NIfTI) index within the file;
        None when the file holds a single image.
    metadata : dict
        Technical acquisition fields only (never patient-identifying ones).
    """

    pixels: np.ndarray
    source: str
    frame: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pixels = self.pixels
        if not isinstance(pixels, np.ndarray) or pixels.dtype != np.float32:
            raise InvalidInputError(
                f"{self.source}: Image.pixels must be a float32 ndarray, "
                f"got {type(pixels).__name__} of dtype {getattr(pixels, 'dtype', None)}"
            )
        if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
            raise InvalidInputError(
                f"{self.source}: Image.pixels must have shape (H, W) or (H, W, 3), got {pixels.shape}"
            )

    @property
    def is_rgb(self) -> bool:
        return self.pixels.ndim == 3


def check_file(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking it is an existing regular file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise InvalidInputError(f"{path}: is not a regular file (a directory?); give one image file")
    return path
