"""Result of a nearest-neighbour search in a feature store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

_BASE_COLUMNS = ("query", "rank", "id", "distance")


@dataclass(frozen=True, eq=False)
class Neighbors:
    """The ``k`` nearest stored vectors of each query.

    Attributes
    ----------
    distances : ndarray of shape (n_queries, k), float32
        Euclidean distances, ascending along each row (``inf`` where an approximate index
        found fewer than ``k`` candidates).
    ids : ndarray of shape (n_queries, k), int64
        Store ids of the neighbours (``-1`` where none was found).
    """

    distances: np.ndarray
    ids: np.ndarray
    _metadata: Callable[[], pd.DataFrame] = field(repr=False)

    def table(self) -> pd.DataFrame:
        """Long form: one row per (query, neighbour) with the neighbour's metadata.

        Columns are ``query`` (row of the queries), ``rank`` (1 = nearest), ``id``,
        ``distance``, then the store's metadata columns; a metadata column whose name
        clashes with those four is renamed ``neighbor_<name>``. Missing neighbours
        (id -1) are left out.
        """
        n, k = self.ids.shape
        found = self.ids.ravel() >= 0
        ids = self.ids.ravel()[found]
        base = pd.DataFrame(
            {
                "query": np.repeat(np.arange(n, dtype=np.int64), k)[found],
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int64), n)[found],
                "id": ids,
                "distance": self.distances.ravel()[found],
            }
        )
        meta = self._metadata().iloc[ids].reset_index(drop=True)
        meta = meta.rename(columns={c: f"neighbor_{c}" for c in meta.columns if c in _BASE_COLUMNS})
        return pd.concat([base, meta], axis=1)


def drop_self(distances: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own id (row i drops id i), else its farthest entry: k+1 -> k columns."""
    n, k1 = ids.shape
    own = ids == np.arange(n)[:, None]
    drop = np.where(own.any(axis=1), own.argmax(axis=1), k1 - 1)
    keep = np.ones_like(own)
    keep[np.arange(n), drop] = False
    return distances[keep].reshape(n, k1 - 1), ids[keep].reshape(n, k1 - 1)
