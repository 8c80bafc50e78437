"""The raw vector file: row-major little-endian float32, appended to, memory-mapped to read."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from fmood.errors import StoreCorruptError

DTYPE = np.dtype("<f4")


def check_vector_file(path: Path, count: int, dim: int) -> None:
    """Raise :class:`StoreCorruptError` unless ``path`` holds at least ``count`` vectors."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise StoreCorruptError(
            f"{path} is missing but the manifest lists {count} vectors; restore it from a backup"
        ) from None
    needed = count * dim * DTYPE.itemsize
    if size < needed:
        raise StoreCorruptError(
            f"{path} holds {size // (dim * DTYPE.itemsize)} complete {dim}-d vectors, but the "
            f"manifest lists {count} (file has {size} bytes, needs {needed}); the store is "
            "damaged, restore it from a backup"
        )


def map_vectors(path: Path, count: int, dim: int) -> np.ndarray:
    """Read-only view of the first ``count`` vectors, shape (count, dim).

    Returns an ``np.memmap`` (nothing is read into RAM); bytes past ``count`` (an add that
    crashed before its commit) are never mapped. An empty store gives an empty ndarray,
    since an empty region cannot be memory-mapped.
    """
    if count == 0:
        empty = np.empty((0, dim), dtype=DTYPE)
        empty.flags.writeable = False
        return empty
    return np.memmap(path, dtype=DTYPE, mode="r", shape=(count, dim))


def append_vectors(path: Path, count: int, X: np.ndarray) -> str:
    """Write ``X`` (n, dim) float32 after the first ``count`` vectors, fsync; return its SHA-256.

    Bytes beyond ``count`` vectors, left by an add that never committed, are cut first so
    the new rows land exactly where the manifest will say they are. The hash is of the
    bytes written, taken from memory (nothing is read back).
    """
    start = count * X.shape[1] * DTYPE.itemsize
    rows = np.ascontiguousarray(X, dtype=DTYPE)
    with open(path, "r+b") as f:
        f.truncate(start)
        f.seek(start)
        rows.tofile(f)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(rows.data.cast("B")).hexdigest()
