"""Small inline previews of the images behind embeddings, or the reason there is none.

Pixels that may identify the patient are never shown: a DICOM file whose header says so
(:class:`fmood.io.dicom.IdentifiablePixelsError` from the reader, which then decodes
nothing) or an image whose stored metadata has ``pixels_withheld`` (embedded with
``identifiable_pixels="embed"``) gets the placeholder "pixels withheld: <reason>".
"""

from __future__ import annotations

import base64
import io
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image as PILImage

from fmood.io import Image, read_image
from fmood.io.dicom import IdentifiablePixelsError

#: Longest side of a thumbnail, in pixels.
THUMBNAIL_SIZE = 128
#: Files whose decoded images are kept while thumbnails are made (frames of one volume).
_CACHE_FILES = 4


@dataclass(frozen=True)
class Thumbnail:
    """A PNG ``data:`` URI, or None with the reason the image could not be shown."""

    data_uri: str | None
    reason: str | None = None


class ThumbnailMaker:
    """Makes thumbnails, decoding each file once while its frames are asked for in a row."""

    def __init__(self, size: int = THUMBNAIL_SIZE) -> None:
        self.size = size
        self._files: OrderedDict[str, list[Image] | Exception] = OrderedDict()

    def __call__(self, path: object, frame: object, withheld: object = None) -> Thumbnail:
        """The thumbnail of frame ``frame`` (None: the first image) of file ``path``.

        ``withheld`` is the image's stored ``pixels_withheld`` value, if any: when it is
        set (a reason, or True from a manifest) no pixel is read and the placeholder says why.
        """
        if isinstance(withheld, str) and withheld:
            return Thumbnail(None, withheld_reason(withheld))
        if isinstance(withheld, (bool, np.bool_)) and withheld:
            return Thumbnail(None, withheld_reason("marked in the stored metadata"))
        if not isinstance(path, str) or not path:
            return Thumbnail(None, "no file path stored for this image")
        images = self._read(path)
        if isinstance(images, Exception):
            return Thumbnail(None, _reason(images, path))
        try:
            image = _pick(images, frame)
            return Thumbnail(_encode(image.pixels, self.size))
        except Exception as err:
            return Thumbnail(None, _one_line(err))

    def _read(self, path: str) -> list[Image] | Exception:
        if path in self._files:
            self._files.move_to_end(path)
            return self._files[path]
        try:
            images: list[Image] | Exception = read_image(path)
            if not images:
                images = ValueError(f"{path}: the file holds no image")
        except Exception as err:
            images = err
        self._files[path] = images
        if len(self._files) > _CACHE_FILES:
            self._files.popitem(last=False)
        return images


def _pick(images: list[Image], frame: Any) -> Image:
    if frame is None or frame is pd.NA or (isinstance(frame, float) and np.isnan(frame)):
        return images[0]
    wanted = int(frame)
    for image in images:
        if image.frame == wanted:
            return image
    if 0 <= wanted < len(images):
        return images[wanted]
    raise ValueError(f"frame {wanted} is not in the file, which holds {len(images)} image(s)")


def _encode(pixels: np.ndarray, size: int) -> str:
    values = np.clip(np.nan_to_num(pixels, nan=0.0), 0.0, 1.0)
    picture = PILImage.fromarray(np.round(values * 255).astype(np.uint8))
    picture.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return f"{type(err).__name__}: {text}"


def withheld_reason(reason: str) -> str:
    """The placeholder text of an image whose pixels are withheld for ``reason``."""
    return f"pixels withheld: {reason}"


def _reason(err: BaseException, path: str) -> str:
    """Why a file could not be read, without repeating its path (shown beside it)."""
    if isinstance(err, FileNotFoundError):
        return "file not found"
    if isinstance(err, IdentifiablePixelsError):
        return withheld_reason(err.reason)
    text = " ".join(str(err).split())
    if text.startswith(f"{path}: "):
        text = text[len(path) + 2 :]
    return text or type(err).__name__
