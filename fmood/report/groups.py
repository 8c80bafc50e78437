"""Breakdown of the target by metadata groups (site, scanner, modality, vendor, label...).

Only columns a reader can take in are broken down: text columns with at most
:data:`MAX_CATEGORIES` values, numeric ones with at most :data:`MAX_NUMERIC_CATEGORIES`, and
numeric columns with more values cut into :data:`N_BINS` quantile bins (image width, slice
position...). Every other column is listed
with the reason it was left out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fmood.distances import dataset_distance
from fmood.errors import InvalidInputError

#: Columns that identify a file or a row, never a group worth breaking down.
NOT_GROUPS = ("path", "frame", "file_sha256")
#: Most distinct values of a categorical column to be broken down (more is an identifier or
#: free text, and a table too long to read).
MAX_CATEGORIES = 20
#: Most distinct values of a numeric column to be broken down value by value (a label,
#: a severity grade); beyond it the column is cut into ``N_BINS`` quantile bins.
MAX_NUMERIC_CATEGORIES = 10
#: Quantile bins of a numeric column with many values (image width, slice position...).
N_BINS = 4
#: Fewest target images of a group for its own dataset distance.
MIN_GROUP_FOR_DISTANCE = 10
#: Null splits for each group's distance (its confidence interval is skipped: that keeps the
#: breakdown of tens of groups to seconds).
GROUP_NULL_SPLITS = 3
#: Groups per column that get a distance, largest first (each costs about a second at
#: 1,000 x 1,280 on 2 cores).
MAX_GROUP_DISTANCES = 20
MISSING = "(missing)"
#: Label of a reference value beyond the target's bins.
OUTSIDE = "(outside the target's range)"


@dataclass(frozen=True)
class Grouping:
    """A column to break down; ``edges`` are its quantile-bin edges when it is binned."""

    column: str
    edges: np.ndarray | None = None

    def labels(self, metadata: pd.DataFrame) -> pd.Series | None:
        """Display label of each row (its value or its bin); None when the column is absent."""
        if self.column not in metadata.columns:
            return None
        values = metadata[self.column]
        if self.edges is None:
            return labels_of(values)
        return _bin_labels(pd.to_numeric(values, errors="coerce"), self.edges)


def choose_groupings(
    target_metadata: pd.DataFrame, exclude: tuple[str | None, ...] = ()
) -> tuple[list[Grouping], list[tuple[str, str]]]:
    """The columns to break down, and (column, reason) for each column left out.

    Identifier columns (``path``, ``frame``, ``file_sha256``, the patient column in
    ``exclude``), single-valued columns and text columns with more than
    :data:`MAX_CATEGORIES` values are left out; numeric columns with more than
    :data:`MAX_NUMERIC_CATEGORIES` values are binned.
    """
    n = len(target_metadata)
    chosen: list[Grouping] = []
    left_out: list[tuple[str, str]] = []
    for column in target_metadata.columns:
        if column in NOT_GROUPS:
            left_out.append((column, "identifies an image"))
            continue
        if column in exclude:
            left_out.append((column, "the patient column (kept whole, not compared)"))
            continue
        values = target_metadata[column]
        distinct = labels_of(values).nunique()
        numeric = _is_numeric(values)
        if distinct < 2:
            left_out.append((column, "one value only"))
        elif distinct <= (MAX_NUMERIC_CATEGORIES if numeric else MAX_CATEGORIES):
            chosen.append(Grouping(column))
        elif numeric:
            edges = _quantile_edges(pd.to_numeric(values, errors="coerce"))
            if edges is None:
                left_out.append((column, f"{distinct} numeric values that do not bin"))
            else:
                chosen.append(Grouping(column, edges))
        else:
            reason = (
                "a different value per image"
                if distinct >= n
                else (f"{distinct} distinct values: an identifier or free text")
            )
            left_out.append((column, reason))
    return chosen, left_out


def group_columns(target_metadata: pd.DataFrame, exclude: tuple[str | None, ...] = ()) -> list[str]:
    """Names of the columns :func:`choose_groupings` breaks down."""
    return [g.column for g in choose_groupings(target_metadata, exclude)[0]]


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _quantile_edges(values: pd.Series) -> np.ndarray | None:
    finite = values[np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))]
    edges = (
        np.unique(np.quantile(finite, np.linspace(0, 1, N_BINS + 1)))
        if len(finite)
        else np.empty(0)
    )
    return np.asarray(edges, dtype=np.float64) if len(edges) >= 3 else None


def _bin_labels(values: pd.Series, edges: np.ndarray) -> pd.Series:
    """``"lo–hi"`` per value (bins closed on the right, the first also on the left)."""
    names = bin_names(edges)
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    index = np.clip(np.searchsorted(edges, numbers, side="left") - 1, 0, len(names) - 1)
    out = pd.Series([names[i] for i in index], dtype=object)
    out[(numbers < edges[0]) | (numbers > edges[-1])] = OUTSIDE
    out[np.isnan(numbers)] = MISSING
    return out


def bin_names(edges: np.ndarray) -> list[str]:
    """``"lo–hi"`` for each bin between consecutive ``edges``."""
    return [f"{_short(lo)}–{_short(hi)}" for lo, hi in itertools.pairwise(edges)]


def _short(value: float) -> str:
    return f"{value:.4g}"


def labels_of(values: pd.Series) -> pd.Series:
    """Values as display strings, missing ones as ``(missing)``."""
    missing = values.isna()
    labels = values.astype(object).map(str)
    labels[missing] = MISSING
    return labels.reset_index(drop=True)


def breakdown(
    column: str | Grouping,
    target_metadata: pd.DataFrame,
    reference_metadata: pd.DataFrame,
    table: pd.DataFrame,
    X_reference: np.ndarray,
    X_target: np.ndarray,
    *,
    method: str,
    groups_reference: np.ndarray | None,
    groups_target: np.ndarray | None,
    seed: int,
) -> list[dict[str, Any]]:
    """One record per value (or bin) of the column in the target.

    Categories come largest group first; bins in the order of their values. Each record:
    ``value``, ``n`` (target images), ``n_reference`` (reference images with that value;
    None when the reference lacks the column), ``flagged_share``, ``n_flagged``,
    ``median_degree``, and for groups of at least 10 images (the 20 largest such groups)
    ``distance`` (the group's distance to the whole reference), ``null_level``,
    ``distance_ratio`` and ``p_value``; None otherwise.
    """
    grouping = column if isinstance(column, Grouping) else Grouping(column)
    target_labels = grouping.labels(target_metadata)
    if target_labels is None:
        raise InvalidInputError(f"the target metadata has no column {grouping.column!r}")
    labels = target_labels.reset_index(drop=True)
    ref_labels = grouping.labels(reference_metadata)
    ref_counts = None if ref_labels is None else ref_labels.value_counts()
    counts = labels.value_counts(sort=False).sort_index()
    measured = set(
        counts[counts >= MIN_GROUP_FOR_DISTANCE]
        .sort_values(ascending=False, kind="stable")
        .index[:MAX_GROUP_DISTANCES]
    )
    records = []
    for value, n in counts.items():
        rows = (labels == value).to_numpy()
        flagged = table["flagged"].to_numpy(dtype=bool)[rows]
        record: dict[str, Any] = {
            "value": value,
            "n": int(n),
            "n_reference": None if ref_counts is None else int(ref_counts.get(value, 0)),
            "n_flagged": int(flagged.sum()),
            "flagged_share": float(flagged.mean()),
            "median_degree": float(np.median(table["degree"].to_numpy()[rows])),
            "distance": None,
            "null_level": None,
            "distance_ratio": None,
            "p_value": None,
        }
        if value in measured:
            result = dataset_distance(
                X_reference,
                X_target[rows],
                method=method,
                n_bootstrap=0,
                n_null=GROUP_NULL_SPLITS,
                random_state=seed,
                groups_a=groups_reference,
                groups_b=_enough_groups(groups_target, rows),
            )
            record.update(
                distance=result.value,
                null_level=result.null_level,
                distance_ratio=result.ratio,
                p_value=result.p_value,
            )
        records.append(record)
    if grouping.edges is None:
        records.sort(key=lambda r: -r["n"])  # stable: equal sizes stay in value order
    else:
        order = {name: i for i, name in enumerate(bin_names(grouping.edges))}
        records.sort(key=lambda r: order.get(r["value"], len(order)))
    return records


def _enough_groups(groups: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    if groups is None:
        return None
    part = groups[rows]
    return part if np.unique(part).size >= 2 else None
