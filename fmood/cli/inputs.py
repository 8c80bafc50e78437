"""Reading what the commands are given: an embeddings source and per-sample arrays."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fmood._validation import check_embeddings
from fmood.errors import InvalidInputError
from fmood.store import FeatureStore


@dataclass(frozen=True)
class EmbeddingSource:
    """Embeddings read from a ``.npy`` file or a feature store.

    Attributes
    ----------
    path : Path
    embeddings : ndarray of shape (n_samples, n_features), float32
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


def load_source(path: str | Path) -> EmbeddingSource:
    """Read embeddings from a ``.npy`` file (2-D, numeric) or a feature store directory."""
    path = Path(path)
    if path.is_dir():
        store = FeatureStore.open(path)
        X = check_embeddings(store.embeddings, f"store {path}")
        return EmbeddingSource(path, X, store.metadata.reset_index(drop=True))
    return EmbeddingSource(path, check_embeddings(load_npy(path), str(path)), None)


def load_npy(path: str | Path) -> np.ndarray:
    """The array in ``.npy`` file ``path``; never unpickles."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such file or directory; expected a .npy file or a feature store"
        )
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "Object arrays" in str(err):
            problem = "it holds Python objects; save a numeric array"
        else:
            problem = f"it is not a readable .npy file ({err})"
        raise InvalidInputError(f"cannot read {path}: {problem}") from None
    except EOFError:
        raise InvalidInputError(f"cannot read {path}: the file is empty or truncated") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise InvalidInputError(
            f"cannot read {path}: it is an .npz archive; save a single array with np.save"
        )
    return array


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
