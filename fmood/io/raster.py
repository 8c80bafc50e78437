"""Read PNG, JPEG and TIFF files with Pillow.

Scaling: integer samples are divided by the maximum of their stored type, so
8-bit data (modes "1", "L", "P", "RGB", "RGBA", ...) is divided by 255 and
16-bit data (modes "I;16", "I;16B", "I;16L", and mode "I" whose values fit in
0..65535, which is how Pillow holds 16-bit PNGs) is divided by 65535.  No
min-max stretching is done, so a dark image stays dark.  Alpha is dropped,
palette images become RGB.  A multi-page TIFF gives one Image per page.

Each image (each page) larger than ``max_pixels`` (default
:data:`fmood.io.image.MAX_PIXELS`) is refused from its header, before it is decoded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageSequence, UnidentifiedImageError

from fmood.errors import InvalidInputError
from fmood.io.image import Image, check_file, check_pixels, resolve_max_pixels

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

_EIGHT_BIT_GREY = {"1", "L", "LA", "La"}
_EIGHT_BIT_COLOUR = {"RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA"}
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}
_BAND_PIXELS = 2**22


def _layout(page: PILImage.Image, path: Path) -> tuple[str | None, int]:
    """The mode a page is converted to (None: read as is) and the maximum of its samples."""
    mode = page.mode
    if mode in _EIGHT_BIT_GREY:
        return "L", 255
    if mode in _EIGHT_BIT_COLOUR:
        return "RGB", 255  # drops alpha and expands palettes
    if mode in _SIXTEEN_BIT or mode == "I":
        return None, 65535
    raise InvalidInputError(
        f"{path}: unsupported Pillow image mode {mode!r}; fmood reads 8-bit and 16-bit "
        "grey, RGB, RGBA and palette images (convert float images to 16-bit)"
    )


def _to_float(page: PILImage.Image, path: Path) -> np.ndarray:
    """The loaded ``page`` as float32 in [0, 1], converted band by band.

    Only the float32 result and one band of copies exist at a time, besides Pillow's own
    decoded image: a whole-image ``convert`` and ``asarray`` would each add a full copy.
    """
    target, maximum = _layout(page, path)
    width, height = page.size
    channels = 3 if target == "RGB" else 1
    pixels = np.empty((height, width, channels) if channels == 3 else (height, width), np.float32)
    rows = max(1, _BAND_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        band = page.crop((0, top, width, min(top + rows, height)))
        if target is not None and band.mode != target:
            band = band.convert(target)
        values = np.asarray(band)
        if page.mode == "I" and values.size and (values.min() < 0 or values.max() > maximum):
            raise InvalidInputError(
                f"{path}: 32-bit integer image with values outside 0..65535 "
                f"({values.min()}..{values.max()} in rows {top}..{top + len(values) - 1}); "
                "fmood reads 8- and 16-bit rasters only"
            )
        pixels[top : top + len(values)] = values
    pixels /= np.float32(maximum)
    return pixels


def _pages(path: Path, max_pixels: int) -> list[Image]:
    """One Image per page, each page's size checked before it is decoded."""
    images = []
    with PILImage.open(path) as opened:
        fmt = opened.format
        n_pages = getattr(opened, "n_frames", 1)
        for index, page in enumerate(ImageSequence.Iterator(opened)):
            what = f"page {index}" if n_pages > 1 else "image"
            check_pixels(path, what, (page.height, page.width), max_pixels)
            page.load()
            pixels = _to_float(page, path)
            metadata = {
                "format": fmt,
                "mode": page.mode,
                "width": page.width,
                "height": page.height,
                "pages": n_pages,
            }
            images.append(
                Image(
                    pixels=pixels,
                    source=str(path),
                    frame=index if n_pages > 1 else None,
                    metadata=metadata,
                )
            )
    return images


def read_raster(path: str | Path, *, max_pixels: int | None = None) -> list[Image]:
    """Read a PNG, JPEG or TIFF file into one Image per page.

    Parameters
    ----------
    path : str or Path
        The image file.
    max_pixels : int >= 1 or None
        Refuse a page of more pixels (width x height) before decoding it; None uses
        :data:`fmood.io.image.MAX_PIXELS`.

    Returns
    -------
    list of Image
        Pixels of shape (H, W) for grey or (H, W, 3) for colour, float32 in [0, 1].
        ``frame`` is None for single-page files and the page index otherwise.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InvalidInputError
        The file is empty, truncated, corrupt, not an image, in an unsupported mode, or
        has a page of more than ``max_pixels`` pixels.
    """
    path = check_file(path)
    max_pixels = resolve_max_pixels(path, max_pixels)
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path}: file is empty (0 bytes), not an image")
    try:
        with warnings.catch_warnings():
            # Pillow's own warning threshold is moot: max_pixels is checked below.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            images = _pages(path, max_pixels)
    except InvalidInputError:
        raise
    except PILImage.DecompressionBombError as error:
        raise InvalidInputError(
            f"{path}: Pillow refuses it as a decompression bomb ({error}); if the file is "
            "genuine, raise PIL.Image.MAX_IMAGE_PIXELS as well as max_pixels"
        ) from error
    except UnidentifiedImageError as error:
        raise InvalidInputError(
            f"{path}: not a readable image (Pillow cannot identify it); supported: "
            f"{', '.join(RASTER_SUFFIXES)}"
        ) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidInputError(f"{path}: corrupt or truncated image ({error})") from error
    return images
