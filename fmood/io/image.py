"""The result type every reader returns (one 2-D image scaled to [0, 1]) and the checks all
readers share: a regular file, and a cap on decoded pixels checked against the header."""

from __future__ import annotations

import io
import math
import os
import stat
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


#: Default cap on the pixels of one decoded image (a raster, one frame, one volume slice):
#: 8192 x 8192. CT and MR slices, radiographs and mammograms (about 4k x 3.3k) are far below
#: it; a larger image costs over 1 GB once decoded to float32, so it is refused before it
#: is decoded unless the reader's ``max_pixels`` option raises the cap (as this module
#: constant does for every call that leaves ``max_pixels`` unset).
MAX_PIXELS = 2**26

_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")


def check_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path after checking it is an existing regular file.

    Devices (``/dev/zero``), FIFOs, sockets and directories are refused: reading them
    never ends, blocks, or is not an image.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    if not stat.S_ISREG(mode):
        raise InvalidInputError(
            f"{path}: is {_kind(mode)}, not a regular file; give one image file"
        )
    return path


def open_regular(path: str | os.PathLike[str]) -> io.BufferedReader:
    """Open ``path`` for binary reading, refusing anything but a regular file.

    The check is made on the opened descriptor (``fstat``), and the open itself does not
    block on a FIFO, so a path swapped for a device or a pipe after a first check is
    refused too.

    Raises
    ------
    FileNotFoundError
        No such file.
    InvalidInputError
        A directory, device, FIFO or socket (named in the message).
    """
    check_file(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidInputError(f"{path}: is {_kind(mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def resolve_max_pixels(path: str | os.PathLike[str], max_pixels: int | None) -> int:
    """``max_pixels``, or :data:`MAX_PIXELS` when None, after checking it is a positive int."""
    if max_pixels is None:
        return MAX_PIXELS
    integer = isinstance(max_pixels, (int, np.integer)) and not isinstance(max_pixels, bool)
    if not integer or max_pixels < 1:
        raise InvalidInputError(
            f"{path}: max_pixels must be a positive integer, got {max_pixels!r}"
        )
    return int(max_pixels)


def check_pixels(
    path: str | os.PathLike[str], what: str, shape: tuple[int, ...], max_pixels: int
) -> None:
    """Refuse an image of ``shape`` (rows, columns) with more than ``max_pixels`` pixels.

    Called with the size a file's header declares, before anything is decoded.
    """
    pixels = math.prod(int(n) for n in shape)
    if pixels > max_pixels:
        size = " x ".join(str(int(n)) for n in shape)
        raise InvalidInputError(
            f"{path}: {what} of {size} = {pixels:,} pixels is more than max_pixels = "
            f"{max_pixels:,}; it is refused before decoding (a decompression bomb, or an image "
            f"larger than fmood expects). If the file is genuine, raise the read option "
            f"max_pixels (command line: --max-pixels N; Python: read_image(path, "
            f"max_pixels=N), or fmood.io.image.MAX_PIXELS for every read)"
        )
