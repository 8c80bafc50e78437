"""Writing embeddings into a feature store in chunks that end at file boundaries.

A file's vectors are added in one ``FeatureStore.add`` (one atomic commit), never split, so
after a crash a file is wholly in the store or not in it, and a rerun that skips the paths
the store holds completes it exactly.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fmood._validation import check_positive_int
from fmood.errors import InvalidInputError, StoreMismatchError
from fmood.store import FeatureStore, Fingerprint
from fmood.store.layout import MANIFEST

#: Metadata columns the embedding itself sets; a manifest may not use them.
RESERVED_COLUMNS = ("path", "frame", "file_sha256")
FLUSH_EVERY = 1024


@dataclass
class OpenedStore:
    """A store opened for appending, and whether this run made it (so it may remove it)."""

    store: FeatureStore
    created: bool


def open_store(
    store: str | os.PathLike[str] | FeatureStore, dim: int, fingerprint: Fingerprint
) -> OpenedStore:
    """Open ``store`` for appending vectors of ``fingerprint``, creating it when missing.

    A new store gets ``dim``, ``fingerprint`` and metric ``"l2"``. A given
    :class:`FeatureStore` is reopened in mode ``"a"`` (the caller's object can then be
    refreshed). Raises :class:`StoreMismatchError` naming both backbones when the store
    holds vectors of another fingerprint or dimension.
    """
    path = Path(store.path if isinstance(store, FeatureStore) else store)
    if not (path / MANIFEST).exists() and not isinstance(store, FeatureStore):
        created = not path.exists()
        opened = FeatureStore.create(path, dim, fingerprint, metric="l2")
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
    """Delete a store this run created and never added to, so a failed run leaves nothing."""
    if opened.created and len(opened.store) == 0:
        shutil.rmtree(opened.store.path, ignore_errors=True)


def stored_files(store: FeatureStore) -> dict[str, str | None]:
    """Absolute path -> ``file_sha256`` (None when absent) of every file the store holds."""
    if len(store) == 0:
        return {}
    meta = store.metadata
    hashes = meta["file_sha256"] if "file_sha256" in meta.columns else [None] * len(meta)
    held: dict[str, str | None] = {}
    for path, sha in zip(meta["path"], hashes, strict=True):
        if isinstance(path, str):
            held.setdefault(os.path.abspath(path), sha if isinstance(sha, str) else None)
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
        return json.dumps(np.asarray(value).tolist() if isinstance(value, np.ndarray) else
                          list(value), separators=(",", ":"), default=str)
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
    """

    def __init__(
        self, store: FeatureStore, fingerprint: Fingerprint, flush_every: int = FLUSH_EVERY
    ) -> None:
        self.store = store
        self.fingerprint = fingerprint
        self.flush_every = check_positive_int(flush_every, "flush_every")
        self._vectors: list[np.ndarray] = []
        self._rows: list[dict[str, Any]] = []
        self.n_added = 0
        self.n_files_added = 0
        self._n_files_waiting = 0

    @property
    def n_waiting(self) -> int:
        """Vectors queued and not yet committed."""
        return len(self._rows)

    def add_file(self, vectors: np.ndarray, rows: Sequence[Mapping[str, Any]]) -> None:
        """Queue one file's vectors (n, dim) and their n metadata rows; flush when due."""
        if len(vectors) != len(rows):
            raise InvalidInputError(f"{len(vectors)} vectors but {len(rows)} metadata rows")
        self._vectors.append(np.asarray(vectors, dtype=np.float32))
        self._rows.extend(rows)
        self._n_files_waiting += 1
        if len(self._rows) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Add everything queued in one atomic commit.

        The queue is emptied first: an add interrupted after its commit must not be retried,
        which would store its files twice (one that failed before is redone by a rerun).
        """
        if not self._rows:
            return
        vectors, rows, n_files = self._vectors, self._rows, self._n_files_waiting
        self._vectors, self._rows, self._n_files_waiting = [], [], 0
        self.store.add(np.concatenate(vectors), metadata_frame(rows), fingerprint=self.fingerprint)
        self.n_added += len(rows)
        self.n_files_added += n_files
