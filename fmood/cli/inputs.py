"""Reading what the commands are given: an embeddings source and per-sample arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fmood._validation import check_embeddings
from fmood.errors import InvalidInputError
from fmood.io.arrays import REAL_KINDS, TEXT_KINDS, open_npy, read_npy
from fmood.store import FeatureStore


@dataclass(frozen=True)
class EmbeddingSource:
    """Embeddings read from a ``.npy`` file or a feature store.

    Attributes
    ----------
    path : Path
    embeddings : ndarray of shape (n_samples, n_features)
        float32 and finite; with ``load_source(..., mmap=True)`` on a ``.npy`` file, the
        file's read-only memory map, as stored (any real dtype, values unchecked).
    metadata : DataFrame of n_samples rows, or None for a ``.npy`` file
    """

    path: Path
    embeddings: np.ndarray
    metadata: pd.DataFrame | None

    @property
    def dim(self) -> int:
        """Dimension of the embeddings."""
        return self.embeddings.shape[1]

    def column(self, name: str, option: str) -> np.ndarray:
        """The metadata column ``name``, asked for by command-line ``option``."""
        if self.metadata is None:
            raise InvalidInputError(
                f"{option} needs a feature store, but {self.path} is a .npy file; "
                f"give a store or a per-sample .npy array instead"
            )
        if name not in self.metadata.columns:
            available = ", ".join(map(str, self.metadata.columns))
            raise InvalidInputError(
                f"{self.path} has no metadata column {name!r} ({option}); available: {available}"
            )
        values = self.metadata[name]
        if values.isna().any():
            raise InvalidInputError(
                f"metadata column {name!r} of {self.path} is missing in "
                f"{int(values.isna().sum())} of {len(values)} rows ({option})"
            )
        return values.to_numpy()


def load_source(path: str | Path, *, mmap: bool = False) -> EmbeddingSource:
    """Read embeddings from a ``.npy`` file (2-D, real numbers) or a feature store directory.

    With ``mmap=True`` a ``.npy`` file's embeddings are :func:`fmood.io.arrays.open_npy`'s
    read-only memory map of shape (n_samples, n_features), in the file's dtype and with
    values not yet checked: convert and check each chunk with
    :func:`fmood._validation.check_embeddings`. A store is read as without ``mmap``.
    """
    path = Path(path)
    if path.is_dir():
        store = FeatureStore.open(path)
        X = check_embeddings(store.embeddings, f"store {path}")
        return EmbeddingSource(path, X, store.metadata.reset_index(drop=True))
    _check_exists(path)
    if mmap:
        return EmbeddingSource(path, open_npy(path), None)
    return EmbeddingSource(path, check_embeddings(load_npy(path), str(path)), None)


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such file or directory; expected a .npy file or a feature store"
        )


def load_npy(path: str | Path) -> np.ndarray:
    """The array in ``.npy`` file ``path``: real numbers or text, header checked, never unpickled.

    See :func:`fmood.io.arrays.read_npy` for what is refused (complex numbers included).
    """
    path = Path(path)
    _check_exists(path)
    return read_npy(path, kinds=REAL_KINDS + TEXT_KINDS)


def per_sample(
    source: EmbeddingSource, *, column: str | None, file: str | None, option: str
) -> np.ndarray | None:
    """One value per sample of ``source``, from a metadata column or a 1-D ``.npy`` file.

    ``option`` is the command-line stem (``"groups"``), used in messages.
    """
    if column is not None and file is not None:
        raise InvalidInputError(f"give --{option}-column or --{option}, not both")
    if column is not None:
        return source.column(column, f"--{option}-column")
    if file is None:
        return None
    values = load_npy(file)
    n = source.embeddings.shape[0]
    if values.shape != (n,):
        raise InvalidInputError(
            f"{file} (--{option}) must be 1-D with one entry per embedding of {source.path} "
            f"({n}), got shape {values.shape}"
        )
    return values


def parse_rows(text: str, n: int) -> np.ndarray:
    """Row numbers from ``"0,5,7"``, each checked against ``n`` rows."""
    try:
        rows = np.array([int(part) for part in text.split(",")], dtype=np.int64)
    except ValueError:
        raise InvalidInputError(f"--rows must be comma-separated integers, got {text!r}") from None
    bad = rows[(rows < 0) | (rows >= n)]
    if bad.size:
        raise InvalidInputError(f"--rows {bad.tolist()} out of range: the query has {n} rows")
    return rows
