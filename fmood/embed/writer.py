"""Writing embeddings into a feature store in chunks that end at file boundaries.

A file's vectors are added in one ``FeatureStore.add`` (one atomic commit), never split, so
after a crash a file is wholly in the store or not in it, and a rerun that skips the paths
the store holds completes it exactly. Whether a file is already stored is decided again
under the store's writer lock at each commit (``skip_stored``), so two runs writing the
same files into one store add each of them once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fmood._validation import check_positive_int
from fmood.errors import FmoodError, InvalidInputError, StoreMismatchError
from fmood.store import FeatureStore
from fmood.store.layout import LOCK, MANIFEST
from fmood.store.manifest import read_manifest
from fmood.utils.atomic import exclusive_lock
from fmood.utils.fingerprint import Fingerprint

#: Metadata columns the embedding itself sets; a manifest may not use them.
RESERVED_COLUMNS = ("path", "frame", "file_sha256")
FLUSH_EVERY = 1024
#: What ``path`` holds instead of the path when paths are hashed (``--no-paths``).
HASHED_PREFIX = "sha256:"


def path_key(path: str, store_paths: bool = True) -> str:
    """What the store's ``path`` column holds for the file at absolute ``path``.

    The path itself, or with ``store_paths=False`` ``"sha256:"`` and the SHA-256 of its
    bytes (``os.fsencode``, so a name that is not UTF-8 has one too). A plain hash hides
    the name, but whoever can guess a path can confirm it by hashing it.
    """
    if store_paths:
        return path
    return HASHED_PREFIX + hashlib.sha256(os.fsencode(path)).hexdigest()


def unstorable(row: Mapping[str, Any]) -> str | None:
    """The first column of ``row`` whose text is not valid UTF-8 (parquet refuses it), or None."""
    for key, value in row.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return key
    return None


@dataclass
class OpenedStore:
    """A store opened for appending, and whether this run made it (so it may remove it)."""

    store: FeatureStore
    created: bool


def open_or_create_for_append(
    store: str | os.PathLike[str] | FeatureStore,
    dim: int,
    fingerprint: Fingerprint,
    blocks: Sequence[tuple[str, int]] | None = None,
) -> OpenedStore:
    """Open ``store`` for appending vectors of ``fingerprint``, creating it when missing.

    A new store gets ``dim``, ``fingerprint``, metric ``"l2"`` and ``blocks`` (the
    backbone's layer blocks, recorded in its manifest). A given
    :class:`FeatureStore` is reopened in mode ``"a"`` (the caller's object can then be
    refreshed). Raises :class:`StoreMismatchError` naming both backbones when the store
    holds vectors of another fingerprint or dimension.
    """
    path = Path(store.path if isinstance(store, FeatureStore) else store)
    if not (path / MANIFEST).exists() and not isinstance(store, FeatureStore):
        created = not path.exists()
        opened = FeatureStore.create(path, dim, fingerprint, metric="l2", blocks=blocks)
        return OpenedStore(opened, created)
    opened = FeatureStore.open(path, mode="a")
    if opened.fingerprint != fingerprint or opened.dim != dim:
        held = opened.fingerprint.describe() if opened.fingerprint else "no fingerprint"
        raise StoreMismatchError(
            f"store at {path} holds {opened.dim}-d vectors from {held}; this run makes "
            f"{dim}-d vectors from {fingerprint.describe()}. Keep one store per backbone: "
            "give a new store path"
        )
    return OpenedStore(opened, False)


def remove_if_unused(opened: OpenedStore) -> None:
    """Delete a store this run created and nobody added to, so a failed run leaves nothing.

    Decided under the writer lock on the latest manifest: another process may have
    committed to the store since this run created it, and that is kept.
    """
    if not opened.created:
        return
    path = opened.store.path
    try:
        with exclusive_lock(path / LOCK):
            if read_manifest(path).count == 0:
                shutil.rmtree(path, ignore_errors=True)
    except (OSError, FmoodError):
        pass  # gone or unreadable already: nothing of this run's to remove


def stored_files(store: FeatureStore) -> dict[str, str | None]:
    """Path key -> ``file_sha256`` (None when absent) of every file the store holds.

    A key is the absolute path, or ``sha256:...`` as :func:`path_key` hashes one.
    """
    if len(store) == 0:
        return {}
    meta = store.metadata
    hashes = meta["file_sha256"] if "file_sha256" in meta.columns else [None] * len(meta)
    held: dict[str, str | None] = {}
    for path, sha in zip(meta["path"], hashes, strict=True):
        if isinstance(path, str):
            key = path if path.startswith(HASHED_PREFIX) else os.path.abspath(path)
            held.setdefault(key, sha if isinstance(sha, str) else None)
    return held


def storable(value: Any) -> Any:
    """A metadata value as parquet can hold it in a column of one type.

    Lists (pixel spacing, voxel sizes, a VOI window) become compact JSON text, so such a
    column is one type whichever files a chunk holds, and can be grouped by.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return json.dumps(
            np.asarray(value).tolist() if isinstance(value, np.ndarray) else list(value),
            separators=(",", ":"),
            default=str,
        )
    return str(value)


def metadata_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows of metadata as a frame of object columns the store can write.

    A column whose values have no common type (ints in one file, text in another) is
    stored as text rather than failing the add.
    """
    columns: dict[str, list[Any]] = {}
    for i, row in enumerate(rows):
        for key, value in row.items():
            columns.setdefault(key, [None] * i).append(storable(value))
        for values in columns.values():
            if len(values) == i:
                values.append(None)
    for key, values in columns.items():
        try:
            pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            columns[key] = [None if v is None else str(v) for v in values]
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()})


class ChunkWriter:
    """Collect whole files' vectors and add them in chunks of about ``flush_every`` vectors.

    Parameters
    ----------
    store : FeatureStore
        Open in mode ``"a"``.
    fingerprint : Fingerprint
        Passed with every add.
    flush_every : int
        Add once at least this many vectors of complete files are waiting, which keeps
        memory flat however large the dataset.
    skip_stored : sequence of str
        Metadata columns that identify a file (``("path",)``): a file the store holds by
        the time of the commit is not added again (see ``FeatureStore.add``).

    Attributes
    ----------
    n_added, n_files_added : int
        Vectors and files this writer really added.
    n_files_skipped : int
        Files left out at a commit because the store held them by then (another writer
        stored them since this run looked).
    """

    def __init__(
        self,
        store: FeatureStore,
        fingerprint: Fingerprint,
        flush_every: int = FLUSH_EVERY,
        skip_stored: Sequence[str] = ("path",),
    ) -> None:
        self.store = store
        self.fingerprint = fingerprint
        self.flush_every = check_positive_int(flush_every, "flush_every")
        self.skip_stored = tuple(skip_stored)
        self._vectors: list[np.ndarray] = []
        self._rows: list[Mapping[str, Any]] = []
        self._starts: list[int] = []  # first row of each waiting file
        self.n_added = 0
        self.n_files_added = 0
        self.n_files_skipped = 0

    @property
    def n_waiting(self) -> int:
        """Vectors queued and not yet committed."""
        return len(self._rows)

    def add_file(self, vectors: np.ndarray, rows: Sequence[Mapping[str, Any]]) -> None:
        """Queue one file's vectors (n, dim) and their n metadata rows; flush when due."""
        if len(vectors) != len(rows):
            raise InvalidInputError(f"{len(vectors)} vectors but {len(rows)} metadata rows")
        self._vectors.append(np.asarray(vectors, dtype=np.float32))
        self._starts.append(len(self._rows))
        self._rows.extend(rows)
        if len(self._rows) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Add everything queued in one atomic commit.

        The queue is emptied first: an add interrupted after its commit must not be retried,
        which would store its files twice (one that failed before is redone by a rerun).
        """
        if not self._rows:
            return
        vectors, rows, starts = self._vectors, self._rows, self._starts
        self._vectors, self._rows, self._starts = [], [], []
        ids = self.store.add(
            np.concatenate(vectors),
            metadata_frame(rows),
            fingerprint=self.fingerprint,
            skip_stored=self.skip_stored or None,
        )
        added = int(np.count_nonzero(ids[starts] >= 0))
        self.n_added += int(np.count_nonzero(ids >= 0))
        self.n_files_added += added
        self.n_files_skipped += len(starts) - added


def __getattr__(name: str) -> Any:
    # Renamed: report.inputs.open_store opens a store read-only, this one for appending.
    if name == "open_store":
        warnings.warn(
            "fmood.embed.writer.open_store is deprecated; use open_or_create_for_append",
            DeprecationWarning,
            stacklevel=2,
        )
        return open_or_create_for_append
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
