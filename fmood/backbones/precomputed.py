"""Embeddings computed elsewhere: a ``.npy`` of vectors and a CSV manifest aligned with it.

The "backbone" of such vectors is the file they came in: its fingerprint is
``precomputed:<name>`` with the SHA-256 of the ``.npy`` bytes as the weights hash, so a
store of precomputed vectors holds the vectors of one file (rerunning the same file resumes
it; another file, which nothing proves came from the same model, needs its own store).
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmood.errors import InvalidInputError
from fmood.io.arrays import open_npy
from fmood.io.dataset import Record, file_sha256, list_manifest
from fmood.utils.fingerprint import Fingerprint

#: Prefix of a precomputed fingerprint's name; also the CLI's ``--backbone`` value.
PRECOMPUTED = "precomputed"
PREPROCESSING = "precomputed"
_SCAN_ROWS = 65536
_SHOWN = 10


@dataclass(frozen=True)
class PrecomputedEmbeddings:
    """Validated precomputed vectors and the records they belong to.

    Attributes
    ----------
    vectors : ndarray of shape (n, dim)
        Memory-mapped, read-only, as stored in the ``.npy`` (any real numeric dtype).
    records : list of Record
        One per row of ``vectors``, in order; absolute paths.
    fingerprint : Fingerprint
    source : Path
        The ``.npy`` file.
    frames : bool
        Whether the manifest has a ``frame`` column (several rows may then share a path).
    """

    vectors: np.ndarray
    records: list[Record]
    fingerprint: Fingerprint
    source: Path
    frames: bool

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def name(self) -> str:
        return self.fingerprint.name


def precomputed_fingerprint(
    vectors_npy: str | os.PathLike[str], name: str = PRECOMPUTED
) -> Fingerprint:
    """``precomputed:<name>``, the SHA-256 of the file's bytes, preprocessing "precomputed"."""
    if not isinstance(name, str) or not name.strip() or ":" in name:
        raise InvalidInputError(
            f"name must be a non-empty string without ':' (it becomes 'precomputed:<name>'), "
            f"got {name!r}"
        )
    return Fingerprint(f"{PRECOMPUTED}:{name}", file_sha256(vectors_npy), PREPROCESSING)


def _load_array(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .npy file")
    return open_npy(path)


def _nonfinite_rows(array: np.ndarray) -> np.ndarray:
    """Rows holding NaN or inf (also values that overflow float32), scanned in chunks."""
    bad = []
    for start in range(0, len(array), _SCAN_ROWS):
        with np.errstate(over="ignore"):
            chunk = np.asarray(array[start : start + _SCAN_ROWS], dtype=np.float32)
        bad.append(start + np.flatnonzero(~np.isfinite(chunk).all(axis=1)))
    return np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)


def _manifest_columns(csv: Path) -> list[str]:
    try:
        return [str(c) for c in pd.read_csv(csv, nrows=0).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{csv}: not a readable CSV manifest ({exc})") from exc


def _as_frame(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise InvalidInputError(f"a 'frame' value must be an integer or empty, got {value!r}")


def load_precomputed(
    vectors_npy: str | os.PathLike[str],
    manifest_csv: str | os.PathLike[str],
    name: str = PRECOMPUTED,
) -> PrecomputedEmbeddings:
    """Read and check precomputed vectors and their manifest; nothing is written.

    Parameters
    ----------
    vectors_npy : path
        A ``.npy`` array of shape (n, dim) of real numbers, memory-mapped after its header is
        checked against the file (:func:`fmood.io.arrays.open_npy`; nothing is unpickled).
    manifest_csv : path
        CSV with n rows in the order of the vectors: a ``path`` column (relative paths are
        resolved against the CSV's folder; the files need not exist here) and any metadata.
        With a ``frame`` column, rows are slices or frames and (path, frame) must be unique;
        without, paths must be.
    name : str
        Names the model in the fingerprint, ``precomputed:<name>``.

    Raises
    ------
    FileNotFoundError
        A file is missing.
    InvalidInputError
        Not a 2-D array of real numbers (complex refused), a header that does not match
        the file's size, a row count other than the manifest's, NaN or infinite
        rows (named, with their paths), or a bad manifest.
    """
    source = Path(vectors_npy)
    csv = Path(manifest_csv)
    array = _load_array(source)
    if not csv.exists():
        raise FileNotFoundError(f"{csv}: no such CSV manifest")
    if not csv.is_file() or csv.suffix.lower() != ".csv":
        raise InvalidInputError(
            f"{csv}: precomputed vectors need a .csv manifest (a 'path' column, row i "
            "describing vector i), not a folder or another file"
        )
    frames = "frame" in _manifest_columns(csv)
    records = list_manifest(csv, unique=("path", "frame") if frames else ("path",))
    if len(records) != len(array):
        raise InvalidInputError(
            f"{source} holds {len(array)} vectors but {csv} lists {len(records)} rows; "
            "row i of the manifest must describe vector i"
        )
    bad = _nonfinite_rows(array)
    if bad.size:
        shown = ", ".join(f"{i} ({records[i].path})" for i in bad[:_SHOWN])
        more = f" and {bad.size - _SHOWN} more" if bad.size > _SHOWN else ""
        raise InvalidInputError(
            f"{source} has NaN or infinite values in {bad.size} row(s): {shown}{more}; "
            "drop those rows from both files"
        )
    out = []
    for record in records:
        metadata = dict(record.metadata)
        if frames:
            metadata["frame"] = _as_frame(metadata["frame"])
        out.append(Record(os.path.abspath(record.path), metadata))
    return PrecomputedEmbeddings(array, out, precomputed_fingerprint(source, name), source, frames)


def __getattr__(name: str) -> Any:
    # embed_precomputed writes a feature store, which is fmood.embed's job (a layer above
    # this one); the old name here forwards there, with a warning, until it is removed.
    if name == "embed_precomputed":
        warnings.warn(
            "fmood.backbones.precomputed.embed_precomputed is deprecated; use "
            "fmood.embed.embed_precomputed",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module("fmood.embed.precomputed").embed_precomputed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
