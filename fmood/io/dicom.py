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

Privacy. Only the ``TECHNICAL_FIELDS`` are copied into ``Image.metadata``, and their
text is sanitised by default (``free_text="hash"``), because a hostile or careless sender
can type a patient name into any free-text field:

* coded fields keep only terms of their controlled vocabulary, written canonically:
  Modality (PS3.3 C.7.3.1.1.1), BodyPartExamined (PS3.16 Annex L, spaces dropped, so
  "WHOLE BODY" -> "WHOLEBODY"), PhotometricInterpretation (PS3.3 C.7.6.3.1.2) and a
  TransferSyntaxUID pydicom knows;
* Manufacturer and ManufacturerModelName are kept only when every word is a known vendor
  word (``VENDOR_WORDS``: "GE MEDICAL SYSTEMS", "Philips Healthcare") or, for the model, a
  known model word (``MODEL_WORDS``) or a short code with a digit ("MRT50H1", "750W": at
  most 8 characters, at most 4 digits in a row, so no date or record number passes);
  a value with a character outside ``A-Z a-z 0-9 space . , _ + - / ( ) &`` (such as the
  ``^`` of a DICOM person name) never passes;
* every other text becomes ``"sha256:"`` + the first 8 hex digits of the SHA-256 of its
  stripped, upper-cased text, so images still group by it across files and sites.
  The hash is not salted (that is what makes it stable across sites), so whoever guesses
  the exact original text can confirm the guess: use ``free_text="drop"`` to leave such
  values out, or ``"keep"`` to copy the text unchanged (trusted, de-identified data only).
* numeric fields (PixelSpacing, KVP, ...) are kept only when they hold numbers.

Pixels. A file whose header says its pixels may identify the patient, BurnedInAnnotation
(0028,0301) or RecognizableVisualFeatures (0028,0302) present and not "NO", is refused by
default with :class:`IdentifiablePixelsError` before its pixels are decoded (a failure row
for ``fmood embed``, a placeholder in reports). ``identifiable_pixels="embed"`` reads it and
records the reason in ``metadata["pixels_withheld"]``; reports never show such pixels.
A file without either attribute is taken as not annotated (most files omit them).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut
from pydicom.uid import UID

from fmood.errors import InvalidInputError
from fmood.io.image import Image, check_file, check_pixels, resolve_max_pixels

DICOM_SUFFIXES = (".dcm", ".dicom")

CT_WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "soft-tissue": (40.0, 400.0),
    "abdomen": (60.0, 400.0),
}

_DECODER_HINT = (
    "install a decoder plugin for it: pylibjpeg with pylibjpeg-libjpeg (JPEG, JPEG-LS) "
    "or pylibjpeg-openjpeg (JPEG 2000), pyjpegls (JPEG-LS), or python-gdcm"
)


# Technical fields copied to Image.metadata; nothing identifying a patient,
# study, date or institution is ever copied, and their text is sanitised (module docstring).
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
_NUMERIC_FIELDS = frozenset(TECHNICAL_FIELDS) - {
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "BodyPartExamined",
    "PhotometricInterpretation",
}
FREE_TEXT_MODES = ("hash", "drop", "keep")
#: A multi-frame file may hold this many times ``max_pixels`` in all its frames together.
MULTIFRAME_FACTOR = 8
IDENTIFIABLE_PIXELS_MODES = ("skip", "embed")


def _terms(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Modality defined terms, current and retired (PS3.3 C.7.3.1.1.1).
MODALITIES = _terms("""
AR ASMT AU BDUS BI BMD CFM CR CT CTPROTOCOL DG DOC DX ECG EEG EMG EOG EPS ES FID GM HC HD IO
IOL IVOCT IVUS KER KO LEN LS MG MR M3D NM OAM OCT OP OPM OPT OPTBSV OPTENF OPV OSS OT PA PLAN
POS PR PT PX REG RESP RF RG RTDOSE RTIMAGE RTINTENT RTPLAN RTRAD RTRECORD RTSEGANN RTSTRUCT
RWV SEG SM SMR SR SRF STAIN TEXTUREMAP TG US VA XA XAPROTOCOL XC
AS CD CF CP CS DD DF DM DS EC FA FS LP MA MS OPR ST VF
""")
#: BodyPartExamined defined terms (PS3.16 Annex L), compared with spaces removed.
BODY_PARTS = _terms("""
ABDOMEN ABDOMENPELVIS ABDOMINALAORTA ACJOINT ACHILLES ADRENAL AMNIOTICFLUID ANKLE ANUS AORTA
AORTICARCH APPENDIX ARM ARTERY ASCAORTA AXILLA BACK BILEDUCT BLADDER BRAIN BRAINSTEM BREAST
BRONCHUS BUTTOCK CALCANEUS CAROTID CEREBELLUM CERVIX CHEEK CHEST CHESTABDOMEN CHESTABDPELVIS
CIRCLEOFWILLIS CLAVICLE COCCYX COLON CORNEA CORONARYARTERY CSPINE CTSPINE DESCAORTA DUODENUM
EAR ELBOW ESOPHAGUS EXTREMITY EYE EYELID FACE FEMUR FIBULA FINGER FOOT FOREARM GALLBLADDER
HAND HEAD HEADNECK HEART HIP HUMERUS IAC ILEUM ILIUM JAW JEJUNUM KIDNEY KNEE LARYNX LEG LIVER
LOWERLIMB LSPINE LSSPINE LUNG MAXILLA MEDIASTINUM MOUTH NECK NECKCHEST NECKCHESTABDOMEN
NECKCHESTABDPELV NOSE ORBIT OVARY PANCREAS PAROTID PATELLA PELVIS PENIS PHARYNX PROSTATE
RADIUS RECTUM RIB SCALP SCAPULA SCLERA SCROTUM SHOULDER SKULL SPINE SPLEEN SSPINE STERNUM
STOMACH SUBMANDIBULAR TESTIS THIGH THORAX THUMB THYMUS THYROID TIBIA TLSPINE TOE TONGUE
TRACHEA TSPINE ULNA UPPERLIMB URETER URETHRA UTERUS VAGINA VULVA WHOLEBODY WRIST ZYGOMA
""")
#: Photometric Interpretation enumerated values (PS3.3 C.7.6.3.1.2).
PHOTOMETRIC_INTERPRETATIONS = frozenset(
    {
        "MONOCHROME1",
        "MONOCHROME2",
        "PALETTE COLOR",
        "RGB",
        "HSV",
        "ARGB",
        "CMYK",
        "YBR_FULL",
        "YBR_FULL_422",
        "YBR_PARTIAL_422",
        "YBR_PARTIAL_420",
        "YBR_ICT",
        "YBR_RCT",
        "XYZ",
    }
)
#: Words a Manufacturer may be made of: vendor names and company words, upper case.
VENDOR_WORDS = _terms("""
ACCURAY ADAC AGFA ALOKA ANALOGIC APERIO BK BRACCO BRUKER CANON CARESTREAM CTI DENTSPLY
DIGIRAD ELEKTA ELSCINT ESAOTE FUJI FUJIFILM GE GEMS GENERAL ELECTRIC GEVAERT HAMAMATSU
HEIDELBERG HITACHI HOLOGIC ICAD IMATRON KODAK EASTMAN KONICA MINOLTA LEICA LORAD MARCONI
MEDISO MEDISON MEDRAD MINDRAY NEUSOFT NIDEK OLYMPUS OPTOS PENTAX PHILIPS PICKER PLANMECA
ROCHE SAMSUNG SHIMADZU SIEMENS HEALTHINEERS SIRONA SONOSITE STORZ KARL SUPERSONIC TOPCON
TOSHIBA MEC UIH UNITED IMAGING VARIAN VATECH VENTANA ZEISS ZONARE 3DHISTECH
MEDICAL SYSTEMS SYSTEM SOLUTIONS HEALTHCARE HEALTH ENGINEERING ELECTRONICS TECHNOLOGIES
TECHNOLOGY INDUSTRIES INTERNATIONAL GROUP CORPORATION CORP CO INC LTD LIMITED GMBH AG NV BV
LLC SA SPA AB KK OY AND OF THE & PHOTO FILM MOLECULAR DIAGNOSTIC
""")
#: Words a ManufacturerModelName may be made of besides vendor words and short codes.
MODEL_WORDS = VENDOR_WORDS | _terms("""
ACHIEVA ACTIVION ACUSON ADVANCE ADVANCED AERA AFFINITI AFFIRM ALEXION ALLURA ALTEA AMBITION
AMULET APLIO AQUILION ARCHITECT ARTIS ARTIST AS ASTELION AVANTO AXIOM AZURION BIOGRAPH
BRILLIANCE BRIVO CLASSIC CT CR DEFINIUM DEFINITION DIGITAL DIGITALDIAGNOST DIMENSIONS
DISCOVERY DR DRIVE DS DX ECHELON ECHOSPEED EDGE ELAN ELITE ELITION EMOTION EPIQ ESPREE
ESSENTIAL EVO EXCELART EXCITE EXPERT EXPLORER FIT FLASH FORCE GALAN GEMINI GENESIS GO HD HDX
HDXT HAWKEYE HILITE HORIZON INCISIVE INFINIA INFINIX INGENIA INGENUITY INNOVA INSPIRATION
INTERA IQON JUNIPER LIGHTNING LIGHTSPEED LOGIQ LUMINOS MAGNETOM MAMMOMAT MCT MG MILLENNIUM
MR MRI MULTIVA MULTIX NM NOW ONE OPTIMA ORIAN OVAL PANORAMA PERSPECTIVE PET PIONEER PLUS
PREMIER PRECISION PRIME PRISMA PRISTINA PRO RHAPSODE REVELATION REVOLUTION SCANNER SCENARIA
SCOPE SELECT SELENIA SENOGRAPHE SENSATION SEQUOIA SIGNA SKYRA SOLA SOMATOM SONATA SPECT
SPECTRAL SPEED SUPERIA SUPRIA SYMPHONY TITAN TOP TOUCH TRIO TRIOTIM US VANTAGE VCT VENUE
VEREOS VERIO VIDA VISION VIVID VOLUSON XA XARIO XELERIS XT YSIO
""")
_SAFE_TEXT = re.compile(r"[A-Za-z0-9 .,_+\-/()&]{1,64}")
_WORD_SPLIT = re.compile(r"[ ,_\-/()]+")
_SHORT_CODE = re.compile(r"(?=[A-Z0-9]{1,8}$)(?=.*[0-9])(?!.*[0-9]{5})")


class IdentifiablePixelsError(InvalidInputError):
    """A DICOM file's header says its pixels may identify the patient.

    ``reason`` is "burned-in annotation", "recognizable visual features" or both.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{path}: pixels withheld: {reason} (BurnedInAnnotation / "
            "RecognizableVisualFeatures is not NO), so the image may show who the patient is; "
            "it is not read. To embed it anyway (it is never shown), pass "
            "identifiable_pixels='embed' (fmood embed --identifiable-pixels embed)"
        )
        self.path = path
        self.reason = reason


def text_hash(text: str) -> str:
    """``"sha256:"`` + 8 hex digits of the SHA-256 of ``text`` stripped and upper-cased."""
    normal = " ".join(text.split()).upper()
    digest = hashlib.sha256(normal.encode("utf-8", "surrogateescape")).hexdigest()
    return f"sha256:{digest[:8]}"


def _words_known(text: str, words: frozenset[str], codes: bool) -> bool:
    if not _SAFE_TEXT.fullmatch(text):
        return False
    tokens = [t for t in _WORD_SPLIT.split(text.upper().replace(".", "").replace("+", "")) if t]
    return bool(tokens) and all(
        t in words or (codes and _SHORT_CODE.match(t) is not None) for t in tokens
    )


def _recognised(keyword: str, text: str) -> str | None:
    """``text`` as kept (canonical for coded fields), or None when it is not recognised."""
    text = " ".join(text.split())
    upper = text.upper()
    if keyword == "Modality":
        return upper if upper in MODALITIES else None
    if keyword == "BodyPartExamined":
        compact = upper.replace(" ", "")
        return compact if compact in BODY_PARTS else None
    if keyword == "PhotometricInterpretation":
        return upper if upper in PHOTOMETRIC_INTERPRETATIONS else None
    if keyword == "TransferSyntaxUID":
        try:
            return text if UID(text).is_transfer_syntax else None
        except ValueError:  # a private UID: pydicom cannot tell
            return None
    if keyword == "Manufacturer":
        return text if _words_known(text, VENDOR_WORDS, codes=False) else None
    if keyword == "ManufacturerModelName":
        return text if _words_known(text, MODEL_WORDS, codes=True) else None
    return None


def sanitise_text(keyword: str, text: str, free_text: str = "hash") -> str | None:
    """The value of text field ``keyword`` as ``free_text`` says to keep it (None: left out).

    Recognised values are kept (coded ones in canonical form); others are hashed with
    :func:`text_hash` ("hash"), left out ("drop") or kept unchanged ("keep").
    """
    if free_text == "keep":
        return text
    recognised = _recognised(keyword, text)
    if recognised is not None or free_text == "drop":
        return recognised
    return text_hash(text)


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


def _is_number(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_is_number(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _quiet_value(ds: pydicom.Dataset, keyword: str) -> Any:
    """``ds``'s value of ``keyword``; None when absent or unparsable (text in a DS, say).

    pydicom's warning about an invalid value would print the value itself, so it is muted.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return ds.get(keyword)
    except Exception:
        return None


def technical_metadata(ds: pydicom.Dataset, free_text: str = "hash") -> dict[str, Any]:
    """The whitelisted technical fields of ``ds`` that are present and non-empty.

    Numeric fields are kept only when they hold numbers; text fields go through
    :func:`sanitise_text` with ``free_text`` ("hash", "drop" or "keep").
    """
    metadata: dict[str, Any] = {}
    for keyword in TECHNICAL_FIELDS:
        value = _quiet_value(ds, keyword)
        if value is None or value == "":
            continue
        value = _plain(value)
        if keyword in _NUMERIC_FIELDS:
            if _is_number(value):
                metadata[keyword] = value
            continue
        text = "\\".join(map(str, value)) if isinstance(value, list) else str(value)
        kept = sanitise_text(keyword, text, free_text)
        if kept is not None:
            metadata[keyword] = kept
    file_meta = getattr(ds, "file_meta", None)
    if file_meta is not None and "TransferSyntaxUID" in file_meta:
        kept = sanitise_text("TransferSyntaxUID", str(file_meta.TransferSyntaxUID), free_text)
        if kept is not None:
            metadata["TransferSyntaxUID"] = kept
    return metadata


def identifiable_pixels_reason(ds: pydicom.Dataset) -> str | None:
    """Why ``ds``'s pixels may identify the patient, or None when its header says nothing.

    BurnedInAnnotation (0028,0301) or RecognizableVisualFeatures (0028,0302) present with a
    value other than "NO" (an odd value counts as yes).
    """
    reasons = []
    for keyword, reason in (
        ("BurnedInAnnotation", "burned-in annotation"),
        ("RecognizableVisualFeatures", "recognizable visual features"),
    ):
        try:
            value = ds.get(keyword)
        except Exception:
            value = "unreadable"
        text = "" if value is None else str(value).strip().upper()
        if text not in ("", "NO"):
            reasons.append(reason)
    return ", ".join(reasons) or None


def _resolve_window(
    window: str | tuple[float, float] | None, path: Path
) -> tuple[float, float] | None:
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


def window_to_unit(
    values: np.ndarray, center: float, width: float, function: str = "LINEAR"
) -> np.ndarray:
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
    except Exception:
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


def _check_mode(name: str, value: str, modes: tuple[str, ...], path: Path) -> None:
    if value not in modes:
        raise InvalidInputError(
            f"{path}: {name} must be one of {', '.join(map(repr, modes))}, got {value!r}"
        )


def read_dicom(
    path: str | Path,
    *,
    window: str | tuple[float, float] | None = None,
    free_text: str = "hash",
    identifiable_pixels: str = "skip",
    max_pixels: int | None = None,
) -> list[Image]:
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
    free_text : {"hash", "drop", "keep"}, default "hash"
        What becomes of text metadata that is not a recognised code, vendor or model
        name (see the module docstring): replaced by ``"sha256:"`` + 8 hex digits of its
        hash (still groups), left out, or kept unchanged (trusted, de-identified data only).
    identifiable_pixels : {"skip", "embed"}, default "skip"
        A file whose BurnedInAnnotation or RecognizableVisualFeatures is not "NO" raises
        :class:`IdentifiablePixelsError` before its pixels are decoded ("skip"), or is
        read with the reason in ``metadata["pixels_withheld"]`` ("embed"); reports never
        show its pixels either way.
    max_pixels : int, optional
        Refuse, from the header and before decoding, a frame of more pixels than this
        (default :data:`fmood.io.image.MAX_PIXELS`), or a multi-frame file whose frames
        together hold more than ``MULTIFRAME_FACTOR`` times as many (pydicom decodes a
        file's frames at once).

    Returns
    -------
    list of Image
        Pixels of shape (H, W) or (H, W, 3), float32 in [0, 1].  ``frame`` is the
        frame index for multi-frame files and None otherwise.  ``metadata`` holds
        ``TECHNICAL_FIELDS`` that are present (text sanitised as ``free_text`` says),
        ``TransferSyntaxUID``, ``voi`` (the window used, "voi-lut", "min-max" or "rgb")
        and, for identifiable pixels read with "embed", ``pixels_withheld`` (the reason).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    IdentifiablePixelsError
        The header says the pixels may identify the patient and ``identifiable_pixels``
        is "skip" (a subclass of InvalidInputError, so ``fmood embed`` lists the file
        among its failures).
    InvalidInputError
        Not DICOM, no pixel data, an unknown window or mode, or compressed pixel data
        without an installed decoder (the message names the transfer syntax and
        the package to install).
    """
    path = check_file(path)
    resolved_window = _resolve_window(window, path)
    _check_mode("free_text", free_text, FREE_TEXT_MODES, path)
    _check_mode("identifiable_pixels", identifiable_pixels, IDENTIFIABLE_PIXELS_MODES, path)
    ds = _read_dataset(path)
    if "PixelData" not in ds:
        raise InvalidInputError(f"{path}: DICOM file has no pixel data (PixelData) to read")
    withheld = identifiable_pixels_reason(ds)
    if withheld is not None and identifiable_pixels == "skip":
        raise IdentifiablePixelsError(path, withheld)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    limit = resolve_max_pixels(path, max_pixels)
    frame_shape = (int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0))
    check_pixels(path, "a frame" if n_frames > 1 else "image", frame_shape, limit)
    check_pixels(path, f"{n_frames} frames", (n_frames, *frame_shape), MULTIFRAME_FACTOR * limit)
    stored = _pixel_array(ds, path)
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
    metadata = technical_metadata(ds, free_text)
    metadata["voi"] = voi
    if withheld is not None:
        metadata["pixels_withheld"] = withheld
    return [
        Image(
            pixels=np.ascontiguousarray(pixels),
            source=str(path),
            frame=index if n_frames > 1 else None,
            metadata=dict(metadata),
        )
        for index, pixels in enumerate(frames)
    ]
