"""What a dataset is for ``fmood embed``: a folder of image files or a CSV manifest.

:func:`list_dataset` turns either into :class:`Record` s (a path plus the manifest's other
columns), :func:`load_records` reads them with :func:`fmood.io.read_image` and sets aside the
files that fail instead of stopping the run, and :func:`write_failures` saves those aside.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from fmood.errors import InvalidInputError
from fmood.io import SUPPORTED_SUFFIXES, read_image
from fmood.io.image import Image
from fmood.store.atomic import temp_path, write_atomic

__all__ = ["FAILURE_COLUMNS", "Record", "list_dataset", "load_records", "write_failures"]

FAILURE_COLUMNS = ("path", "error")
# Errors a reader raises on a bad file; anything else is a bug and always propagates.
_READ_ERRORS = (InvalidInputError, OSError, ValueError)
_SHOWN_DUPLICATES = 5


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
            f"{folder}: no supported image file found (searched recursively, hidden files skipped); "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)} or a DICOM file without suffix"
        )
    found.sort(key=lambda p: p.relative_to(folder).as_posix())
    return [Record(str(path)) for path in found]


def _list_manifest(csv: Path) -> list[Record]:
    try:
        table = pd.read_csv(csv, dtype={"path": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{csv}: not a readable CSV manifest ({exc})") from exc
    if "path" not in table.columns:
        raise InvalidInputError(
            f"{csv}: a manifest needs a 'path' column; it has {list(map(str, table.columns))}"
        )
    if table.empty:
        raise InvalidInputError(f"{csv}: the manifest lists no file")
    blank = table["path"].isna() | (table["path"].astype(str).str.strip() == "")
    if blank.any():
        rows = [int(i) + 2 for i in table.index[blank][:_SHOWN_DUPLICATES]]  # +2: header, 1-based
        raise InvalidInputError(f"{csv}: empty 'path' on line(s) {rows}")
    # Relative paths are relative to the manifest, so a dataset folder can be moved whole.
    paths = [str(p if p.is_absolute() else csv.parent / p) for p in map(Path, table["path"].str.strip())]
    seen: set[str] = set()
    duplicates: list[str] = []
    for p in paths:
        key = os.path.normpath(p)
        if key in seen and p not in duplicates:
            duplicates.append(p)
        seen.add(key)
    if duplicates:
        shown = ", ".join(duplicates[:_SHOWN_DUPLICATES])
        more = f" and {len(duplicates) - _SHOWN_DUPLICATES} more" if len(duplicates) > _SHOWN_DUPLICATES else ""
        raise InvalidInputError(f"{csv}: {len(duplicates)} path(s) listed more than once: {shown}{more}")
    extra = table.drop(columns="path").astype(object)
    extra = extra.where(extra.notna(), None)
    return [Record(path, row) for path, row in zip(paths, extra.to_dict("records"), strict=True)]


def list_dataset(source: str | Path) -> list[Record]:
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
        return _list_manifest(source)
    raise InvalidInputError(f"{source}: a dataset is a folder or a .csv manifest with a 'path' column")


def _one_line(exc: BaseException) -> str:
    message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return message or type(exc).__name__


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
        Passed to :func:`fmood.io.read_image` (e.g. ``window="lung"``).

    Returns
    -------
    images : list of (Record, Image)
        One pair per image; a multi-frame or multi-slice file gives several. Each image's
        metadata holds the record's manifest columns first, then the reader's technical
        fields that do not clash with them (the manifest wins).
    failures : DataFrame with columns ``path``, ``error``
        One row per file that could not be read, with the one-line reason.
    """
    images: list[tuple[Record, Image]] = []
    failures: list[dict[str, str]] = []
    for record in records:
        try:
            read = read_image(record.path, **read_options)
        except _READ_ERRORS as exc:
            if strict:
                raise
            failures.append({"path": record.path, "error": _one_line(exc)})
            continue
        for image in read:
            metadata = dict(record.metadata)
            for key, value in image.metadata.items():
                metadata.setdefault(key, value)
            images.append((record, dataclasses.replace(image, metadata=metadata)))
    return images, pd.DataFrame(failures, columns=list(FAILURE_COLUMNS))


def write_failures(failures: pd.DataFrame, path: str | Path) -> None:
    """Write the failures table to ``path`` (CSV) atomically: the old file or the new, never half."""
    path = Path(path)

    def write(tmp: Path) -> None:
        failures.to_csv(tmp, index=False, columns=list(FAILURE_COLUMNS))

    try:
        write_atomic(path, write)
    except BaseException:
        temp_path(path).unlink(missing_ok=True)
        raise
