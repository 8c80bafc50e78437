"""What a dataset is for ``fmood embed``: a folder of image files or a CSV manifest.

:func:`list_dataset` turns either into :class:`Record` s (a path plus the manifest's other
columns), :func:`read_record` reads one of them (reader options routed to the reader that
takes them, manifest columns merged with the reader's metadata), :func:`load_records` reads
many and sets aside the files that fail instead of stopping the run, and
:func:`write_failures` saves those aside.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fmood.errors import InvalidInputError
from fmood.io import SUPPORTED_SUFFIXES, read_dicom, read_image, read_nifti, read_raster
from fmood.io.image import Image, open_regular
from fmood.io.nifti import NIFTI_SUFFIXES
from fmood.io.raster import RASTER_SUFFIXES
from fmood.utils.atomic import write_atomic

__all__ = [
    "FAILURE_COLUMNS",
    "MAX_HASH_BYTES",
    "READ_ERRORS",
    "READ_OPTIONS",
    "Record",
    "check_read_options",
    "file_sha256",
    "list_dataset",
    "list_manifest",
    "load_records",
    "one_line",
    "read_record",
    "write_failures",
]

FAILURE_COLUMNS = ("path", "error")
#: Errors a reader raises on a bad file; anything else is a bug and always propagates.
READ_ERRORS = (InvalidInputError, OSError, ValueError)


def _keyword_options(reader: Any) -> tuple[str, ...]:
    return tuple(
        name
        for name, p in inspect.signature(reader).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY or (name != "path" and p.default is not p.empty)
    )


#: Reader kind -> the options its reader takes (read from the readers' signatures).
READ_OPTIONS: dict[str, tuple[str, ...]] = {
    "raster": _keyword_options(read_raster),
    "dicom": _keyword_options(read_dicom),
    "nifti": _keyword_options(read_nifti),
}
_SHOWN_DUPLICATES = 5
_HASH_BLOCK = 1 << 20
#: Largest file :func:`file_sha256` hashes (64 GiB): above any image or vector file fmood
#: reads; a larger one is more likely a mistake than a dataset file.
MAX_HASH_BYTES = 64 << 30


@dataclass(frozen=True)
class Record:
    """One file of a dataset.

    Parameters
    ----------
    path : str
        Path of the image file (absolute when it came from a manifest's relative path).
    metadata : dict
        The manifest's columns other than ``path`` (label, site, scanner, ...), missing
        values as None; empty for a folder.
    """

    path: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _is_supported(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(SUPPORTED_SUFFIXES):
        return True
    if path.suffix == "":
        try:
            with path.open("rb") as handle:
                head = handle.read(132)
        except OSError:
            return False
        return len(head) == 132 and head[128:132] == b"DICM"
    return False


def _list_folder(folder: Path) -> list[Record]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        # Hidden folders (.git, .ipynb_checkpoints, ...) are pruned, never descended.
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(root) / name
            if not name.startswith(".") and path.is_file() and _is_supported(path):
                found.append(path)
    if not found:
        raise InvalidInputError(
            f"{folder}: no supported image file found (searched recursively, hidden files "
            f"skipped); supported: {', '.join(SUPPORTED_SUFFIXES)} or a DICOM file without suffix"
        )
    found.sort(key=lambda p: p.relative_to(folder).as_posix())
    return [Record(str(path)) for path in found]


def list_manifest(csv: str | Path, *, unique: tuple[str, ...] = ("path",)) -> list[Record]:
    """The records of a CSV manifest, in its row order.

    Parameters
    ----------
    csv : str or Path
        A CSV file with a ``path`` column; relative paths are resolved against its folder,
        every other column is kept as each record's metadata.
    unique : tuple of str
        Columns whose values together may appear on one row only (``path`` compared after
        normalisation). ``("path", "frame")`` allows one row per slice of a volume.

    Raises
    ------
    InvalidInputError
        Unreadable CSV, no ``path`` or ``unique`` column, no row, an empty path, or
        repeated ``unique`` values (the first ones are named).
    """
    csv = Path(csv)
    try:
        table = pd.read_csv(csv, dtype={"path": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{csv}: not a readable CSV manifest ({exc})") from exc
    if "path" not in table.columns:
        raise InvalidInputError(
            f"{csv}: a manifest needs a 'path' column; it has {list(map(str, table.columns))}"
        )
    missing = [c for c in unique if c not in table.columns]
    if missing:
        raise InvalidInputError(f"{csv}: the manifest has no column {missing}")
    if table.empty:
        raise InvalidInputError(f"{csv}: the manifest lists no file")
    blank = table["path"].isna() | (table["path"].astype(str).str.strip() == "")
    if blank.any():
        rows = [int(i) + 2 for i in table.index[blank][:_SHOWN_DUPLICATES]]  # +2: header, 1-based
        raise InvalidInputError(f"{csv}: empty 'path' on line(s) {rows}")
    # Relative paths are relative to the manifest, so a dataset folder can be moved whole.
    paths = [
        str(p if p.is_absolute() else csv.parent / p) for p in map(Path, table["path"].str.strip())
    ]
    others = [table[c].tolist() for c in unique if c != "path"]
    seen: set[tuple[Any, ...]] = set()
    duplicates: list[str] = []
    for p, *rest in zip(paths, *others, strict=True):
        key = (os.path.normpath(p), *rest)
        values = ", ".join(f"{c}={v}" for c, v in zip(unique[1:], rest, strict=True))
        shown = f"{p} ({values})" if rest else p
        if key in seen and shown not in duplicates:
            duplicates.append(shown)
        seen.add(key)
    if duplicates:
        what = "path(s)" if unique == ("path",) else f"({', '.join(unique)}) value(s)"
        shown = ", ".join(duplicates[:_SHOWN_DUPLICATES])
        hidden = len(duplicates) - _SHOWN_DUPLICATES
        more = f" and {hidden} more" if hidden > 0 else ""
        raise InvalidInputError(
            f"{csv}: {len(duplicates)} {what} listed more than once: {shown}{more}"
        )
    extra = table.drop(columns="path").astype(object)
    extra = extra.where(extra.notna(), None)
    return [Record(path, row) for path, row in zip(paths, extra.to_dict("records"), strict=True)]


def list_dataset(source: str | os.PathLike[str]) -> list[Record]:
    """List the image files of a folder or a CSV manifest.

    Parameters
    ----------
    source : str or Path
        A folder, searched recursively for files :func:`fmood.io.read_image` supports
        (plus suffix-less DICOM files; hidden files and folders skipped), or a ``.csv``
        manifest with a ``path`` column (relative paths resolved against the CSV's folder;
        every other column kept as each record's metadata).

    Returns
    -------
    list of Record
        Sorted by path for a folder; in manifest order for a CSV.

    Raises
    ------
    FileNotFoundError
        ``source`` does not exist.
    InvalidInputError
        No supported file in the folder, a manifest without a ``path`` column or with
        duplicate paths, or a source that is neither a folder nor a ``.csv`` file.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such folder or CSV manifest")
    if source.is_dir():
        return _list_folder(source)
    if source.suffix.lower() == ".csv":
        return list_manifest(source)
    raise InvalidInputError(
        f"{source}: a dataset is a folder or a .csv manifest with a 'path' column"
    )


def file_sha256(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> str:
    """SHA-256 of a regular file's bytes, read 1 MiB at a time.

    Parameters
    ----------
    path : str or PathLike
    max_bytes : int or None
        Refuse a larger file; None uses :data:`MAX_HASH_BYTES`.

    Raises
    ------
    FileNotFoundError
        No such file.
    InvalidInputError
        A device (``/dev/zero`` would be hashed forever), FIFO, socket or directory, or a
        file of more than ``max_bytes`` bytes (also one that grows past it while hashed).
    """
    limit = MAX_HASH_BYTES if max_bytes is None else max_bytes
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        hashed = 0
        while block := handle.read(_HASH_BLOCK):
            hashed += len(block)
            if max(size, hashed) > limit:
                raise InvalidInputError(
                    f"{path}: {max(size, hashed):,} bytes, more than the {limit:,} fmood hashes "
                    "(fmood.io.dataset.MAX_HASH_BYTES); raise that limit if the file is genuine"
                )
            digest.update(block)
    return digest.hexdigest()


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line (its type name when it has none)."""
    message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return message or type(exc).__name__


def check_read_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` as a dict, after checking that some reader takes each of them.

    Raises
    ------
    InvalidInputError
        An option no reader takes; the message lists each reader's options.
    """
    options = dict(options or {})
    known = {name for names in READ_OPTIONS.values() for name in names}
    unknown = sorted(set(options) - known)
    if unknown:
        offered = "; ".join(
            f"{kind}: {', '.join(names) or '(none)'}" for kind, names in READ_OPTIONS.items()
        )
        raise InvalidInputError(f"unknown read option(s) {unknown}; the readers take {offered}")
    return options


def _reader_kind(path: str | Path) -> str:
    """Which reader :func:`fmood.io.read_image` sends ``path`` to (DICOM for the rest)."""
    name = Path(path).name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if Path(name).suffix in RASTER_SUFFIXES:
        return "raster"
    return "dicom"


def read_record(record: Record, **read_options: Any) -> list[Image]:
    """Read one record's file into images that carry its manifest columns.

    Parameters
    ----------
    record : Record
    **read_options
        Options of any reader (see :data:`READ_OPTIONS`); each file's reader gets only
        those it takes, so ``window="lung"`` applies to DICOM files and leaves PNGs alone.

    Returns
    -------
    list of Image
        One per image (frame, page or slice) of the file; each image's metadata holds the
        record's manifest columns first, then the reader's fields that do not clash with
        them (the manifest wins).

    Raises
    ------
    FileNotFoundError, InvalidInputError, OSError, ValueError
        As :func:`fmood.io.read_image` (see :data:`READ_ERRORS`); an unknown option.
    """
    options = check_read_options(read_options)
    accepted = READ_OPTIONS[_reader_kind(record.path)]
    images = read_image(record.path, **{k: v for k, v in options.items() if k in accepted})
    out = []
    for image in images:
        metadata = dict(record.metadata)
        for key, value in image.metadata.items():
            metadata.setdefault(key, value)
        out.append(dataclasses.replace(image, metadata=metadata))
    return out


def load_records(
    records: Iterable[Record], *, strict: bool = False, **read_options: Any
) -> tuple[list[tuple[Record, Image]], pd.DataFrame]:
    """Read every record with :func:`fmood.io.read_image`, keeping going past bad files.

    Parameters
    ----------
    records : iterable of Record
    strict : bool, default False
        Re-raise the first read failure instead of recording it.
    **read_options
        Reader options (e.g. ``window="lung"``, ``max_slices=20``), each passed to the
        readers that take it (see :func:`read_record`).

    Returns
    -------
    images : list of (Record, Image)
        One pair per image; a multi-frame or multi-slice file gives several. Each image's
        metadata holds the record's manifest columns first, then the reader's technical
        fields that do not clash with them (the manifest wins).
    failures : DataFrame with columns ``path``, ``error``
        One row per file that could not be read, with the one-line reason.
    """
    read_options = check_read_options(read_options)
    images: list[tuple[Record, Image]] = []
    failures: list[dict[str, str]] = []
    for record in records:
        try:
            read = read_record(record, **read_options)
        except READ_ERRORS as exc:
            if strict:
                raise
            failures.append({"path": record.path, "error": one_line(exc)})
            continue
        images.extend((record, image) for image in read)
    return images, pd.DataFrame(failures, columns=list(FAILURE_COLUMNS))


def write_failures(failures: pd.DataFrame, path: str | Path) -> None:
    """Write the failures table to ``path`` (CSV) atomically: the old or the new, never half."""
    path = Path(path)

    def write(tmp: Path) -> None:
        failures.to_csv(tmp, index=False, columns=list(FAILURE_COLUMNS))

    write_atomic(path, write)
