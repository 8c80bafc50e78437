"""Read DICOM files with pydicom into display-ready images.

Pipeline for grey (MONOCHROME1/2) data, per file:

1. Modality LUT or RescaleSlope/Intercept (``pydicom.pixels.apply_modality_lut``),
   so CT values are Hounsfield units.
2. VOI, first match wins:
   an explicit ``window=(center, width)``; a CT preset name (``CT_WINDOWS``);
   the file's VOI LUT Sequence (``pydicom.pixels.apply_voi_lut``, scaled by the
   LUT's output bit depth); the file's first WindowCenter/WindowWidth (with its
   VOILUTFunction, LINEAR by default); else min-max over all frames of the file.
   Windows use the DICOM PS3.3 C.11.2.1.2 formulas mapped to [0, 1].
3. MONOCHROME1 is inverted (1 - value) so that high = bright.

Colour data (SamplesPerPixel == 3) is returned as RGB divided by 2**BitsStored - 1
(pydicom converts YBR to RGB); PALETTE COLOR goes through ``apply_color_lut``.
A multi-frame file gives one Image per frame with ``frame`` set.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

from fmood.errors import InvalidInputError
from fmood.io.image import Image, check_file

DICOM_SUFFIXES = (".dcm", ".dicom")

CT_WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "soft-tissue": (40.0, 400.0),
    "abdomen": (60.0, 400.0),
}

# Technical fields copied to Image.metadata; nothing identifying a patient,
# study, date or institution is ever copied.
TECHNICAL_FIELDS = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "BodyPartExamined",
    "PixelSpacing",
    "SliceThickness",
    "KVP",
    "MagneticFieldStrength",
    "RepetitionTime",
    "EchoTime",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "BitsStored",
)

_DECODER_HINT = (
    "install a decoder plugin for it: pylibjpeg with pylibjpeg-libjpeg (JPEG, JPEG-LS) "
    "or pylibjpeg-openjpeg (JPEG 2000), pyjpegls (JPEG-LS), or python-gdcm"
)


def _plain(value: Any) -> Any:
    """Turn pydicom value types into plain Python ones."""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return [_plain(item) for item in value]
    if isinstance(value, pydicom.valuerep.DSfloat | pydicom.valuerep.DSdecimal):
        return float(value)
    if isinstance(value, pydicom.valuerep.IS):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    return str(value)


def technical_metadata(ds: pydicom.Dataset) -> dict[str, Any]:
    """The whitelisted technical fields of ``ds`` that are present and non-empty."""
    metadata: dict[str, Any] = {}
    for keyword in TECHNICAL_FIELDS:
        value = ds.get(keyword)
        if value is not None and value != "":
            metadata[keyword] = _plain(value)
    file_meta = getattr(ds, "file_meta", None)
    if file_meta is not None and "TransferSyntaxUID" in file_meta:
        metadata["TransferSyntaxUID"] = str(file_meta.TransferSyntaxUID)
    return metadata


def _resolve_window(window: str | tuple[float, float] | None, path: Path) -> tuple[float, float] | None:
    if window is None:
        return None
    if isinstance(window, str):
        try:
            return CT_WINDOWS[window]
        except KeyError:
            raise InvalidInputError(
                f"{path}: unknown window preset {window!r}; use one of {sorted(CT_WINDOWS)} "
                "or a (center, width) tuple"
            ) from None
    try:
        center, width = (float(v) for v in window)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{path}: window must be a preset name or (center, width), got {window!r}"
        ) from None
    if not width > 0:
        raise InvalidInputError(f"{path}: window width must be > 0, got {width}")
    return center, width


def window_to_unit(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Map ``values`` through a DICOM VOI window onto [0, 1] (PS3.3 C.11.2.1.2)."""
    values = np.asarray(values, dtype=np.float64)
    function = function.upper()
    if function == "SIGMOID":
        out = 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    elif function == "LINEAR_EXACT":
        out = np.clip((values - center) / width + 0.5, 0.0, 1.0)
    else:  # LINEAR, the default
        if width < 1:
            raise InvalidInputError(f"LINEAR window width must be >= 1, got {width}")
        if width == 1:
            out = (values >= center - 0.5).astype(np.float64)
        else:
            out = np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)
    return out


def _first(value: Any) -> float:
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0]
    return float(value)


def _read_dataset(path: Path) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        pass  # no preamble: could be an old headerless file, try harder below
    except Exception as error:  # pydicom raises many types on garbage input
        raise InvalidInputError(f"{path}: not a readable DICOM file ({error})") from error
    try:
        # On non-DICOM bytes pydicom warns about every element it guesses at; the one-line
        # error below says what matters.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ds = pydicom.dcmread(path, force=True)
        ok = "PixelData" in ds and "Rows" in ds and "Columns" in ds
    except Exception:  # noqa: BLE001 - force=True on non-DICOM bytes raises arbitrary types
        ok = False
    if not ok:
        raise InvalidInputError(
            f"{path}: not a DICOM file (no 'DICM' preamble and no readable pixel data)"
        )
    return ds


def _pixel_array(ds: pydicom.Dataset, path: Path) -> np.ndarray:
    transfer_syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        return ds.pixel_array
    except Exception as error:
        if transfer_syntax is not None and transfer_syntax.is_compressed:
            raise InvalidInputError(
                f"{path}: cannot decode compressed pixel data in transfer syntax "
                f"'{transfer_syntax.name}' ({transfer_syntax}); {_DECODER_HINT}. "
                f"pydicom said: {error}"
            ) from error
        raise InvalidInputError(f"{path}: cannot read pixel data ({error})") from error


def _grey_to_unit(
    ds: pydicom.Dataset, stored: np.ndarray, window: tuple[float, float] | None
) -> tuple[np.ndarray, list[float] | str]:
    """Modality LUT then VOI; returns values in [0, 1] and a description of the VOI used."""
    values = apply_modality_lut(stored, ds)
    if window is not None:
        return window_to_unit(values, *window), [window[0], window[1]]
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence) > 0:
        out = apply_voi_lut(values, ds, index=0).astype(np.float64)
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return np.clip(out / (2.0**bits - 1.0), 0.0, 1.0), "voi-lut"
    if ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        if width > 0:
            function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
            return window_to_unit(values, center, width, function), [center, width]
    values = np.asarray(values, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if high == low:
        return np.zeros_like(values), "min-max"
    return (values - low) / (high - low), "min-max"


def read_dicom(path: str | Path, *, window: str | tuple[float, float] | None = None) -> list[Image]:
    """Read one DICOM file into one Image per frame.

    Parameters
    ----------
    path : str or Path
        The DICOM file (with or without the 128-byte preamble).
    window : str or (center, width) or None
        VOI window for grey images: a CT preset name from ``CT_WINDOWS``
        ("brain", "lung", "bone", "soft-tissue", "abdomen"), an explicit
        ``(center, width)`` in modality units (HU for CT), or None to use the
        file's own VOI LUT / window, else min-max.  Ignored for colour images.

    Returns
    -------
    list of Image
        Pixels of shape (H, W) or (H, W, 3), float32 in [0, 1].  ``frame`` is the
        frame index for multi-frame files and None otherwise.  ``metadata`` holds
        ``TECHNICAL_FIELDS`` that are present, ``TransferSyntaxUID`` and ``voi``
        (the window used, "voi-lut", "min-max" or "rgb").

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InvalidInputError
        Not DICOM, no pixel data, an unknown window, or compressed pixel data
        without an installed decoder (the message names the transfer syntax and
        the package to install).
    """
    path = check_file(path)
    resolved_window = _resolve_window(window, path)
    ds = _read_dataset(path)
    if "PixelData" not in ds:
        raise InvalidInputError(f"{path}: DICOM file has no pixel data (PixelData) to read")
    stored = _pixel_array(ds, path)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()

    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(stored, ds)
        unit = rgb.astype(np.float64) / float(np.iinfo(rgb.dtype).max)
        voi: Any = "palette"
    elif samples == 3:
        bits = int(ds.get("BitsStored", 8) or 8)
        unit = stored.astype(np.float64) / (2.0**bits - 1.0)
        voi = "rgb"
    elif samples == 1:
        unit, voi = _grey_to_unit(ds, stored, resolved_window)
        if photometric == "MONOCHROME1":
            unit = 1.0 - unit
    else:
        raise InvalidInputError(f"{path}: unsupported SamplesPerPixel={samples}; expected 1 or 3")

    unit = np.clip(unit, 0.0, 1.0).astype(np.float32)
    frames = unit if n_frames > 1 else unit[np.newaxis]
    metadata = technical_metadata(ds)
    metadata["voi"] = voi
    return [
        Image(
            pixels=np.ascontiguousarray(pixels),
            source=str(path),
            frame=index if n_frames > 1 else None,
            metadata=dict(metadata),
        )
        for index, pixels in enumerate(frames)
    ]
