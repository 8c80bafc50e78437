"""Read PNG, JPEG and TIFF files with Pillow.

Scaling: integer samples are divided by the maximum of their stored type, so
8-bit data (modes "1", "L", "P", "RGB", "RGBA", ...) is divided by 255 and
16-bit data (modes "I;16", "I;16B", "I;16L", and mode "I" whose values fit in
0..65535, which is how Pillow holds 16-bit PNGs) is divided by 65535.  No
min-max stretching is done, so a dark image stays dark.  Alpha is dropped,
palette images become RGB.  A multi-page TIFF gives one Image per page.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageSequence, UnidentifiedImageError

from fmood.errors import InvalidInputError
from fmood.io.image import Image, check_file

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

_EIGHT_BIT_GREY = {"1", "L", "LA", "La"}
_EIGHT_BIT_COLOUR = {"RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA"}
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}


def _to_float(page: PILImage.Image, path: Path) -> np.ndarray:
    mode = page.mode
    if mode in _EIGHT_BIT_GREY:
        return np.asarray(page.convert("L"), dtype=np.float32) / np.float32(255)
    if mode in _EIGHT_BIT_COLOUR:
        # convert("RGB") drops alpha and expands palettes.
        return np.asarray(page.convert("RGB"), dtype=np.float32) / np.float32(255)
    if mode in _SIXTEEN_BIT:
        return np.asarray(page).astype(np.float32) / np.float32(65535)
    if mode == "I":
        values = np.asarray(page)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise InvalidInputError(
                f"{path}: 32-bit integer image with values outside 0..65535 "
                f"({values.min()}..{values.max()}); fmood reads 8- and 16-bit rasters only"
            )
        return values.astype(np.float32) / np.float32(65535)
    raise InvalidInputError(
        f"{path}: unsupported Pillow image mode {mode!r}; fmood reads 8-bit and 16-bit "
        "grey, RGB, RGBA and palette images (convert float images to 16-bit)"
    )


def read_raster(path: str | Path) -> list[Image]:
    """Read a PNG, JPEG or TIFF file into one Image per page.

    Parameters
    ----------
    path : str or Path
        The image file.

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
        The file is empty, truncated, corrupt, not an image, or in an unsupported mode.
    """
    path = check_file(path)
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path}: file is empty (0 bytes), not an image")
    images: list[Image] = []
    try:
        with PILImage.open(path) as opened:
            fmt = opened.format
            n_pages = getattr(opened, "n_frames", 1)
            for index, page in enumerate(ImageSequence.Iterator(opened)):
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
                        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
                        source=str(path),
                        frame=index if n_pages > 1 else None,
                        metadata=metadata,
                    )
                )
    except InvalidInputError:
        raise
    except UnidentifiedImageError as error:
        raise InvalidInputError(
            f"{path}: not a readable image (Pillow cannot identify it); supported: "
            f"{', '.join(RASTER_SUFFIXES)}"
        ) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidInputError(f"{path}: corrupt or truncated image ({error})") from error
    return images
