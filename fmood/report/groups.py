"""Breakdown of the target by metadata groups (site, scanner, modality, vendor, label...)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fmood.distances import dataset_distance

#: Columns that identify a file or a row, never a group worth breaking down.
NOT_GROUPS = ("path", "frame", "file_sha256")
#: Most distinct values for a column to be broken down (more is an identifier or a number).
MAX_GROUP_VALUES = 50
#: Fewest target images of a group for its own dataset distance.
MIN_GROUP_FOR_DISTANCE = 10
#: Null splits for each group's distance (its confidence interval is skipped: that keeps the
#: breakdown of tens of groups to seconds).
GROUP_NULL_SPLITS = 3
#: Groups per column that get a distance, largest first (each costs about a second at
#: 1,000 x 1,280 on 2 cores).
MAX_GROUP_DISTANCES = 20
MISSING = "(missing)"


def group_columns(target_metadata: pd.DataFrame, exclude: tuple[str | None, ...] = ()) -> list[str]:
    """Metadata columns to break down: more than one and at most 50 distinct values.

    Identifier columns (``path``, ``frame``, ``file_sha256``, the patient column in
    ``exclude``) and columns holding a different value for every image are left out.
    """
    n = len(target_metadata)
    out = []
    for column in target_metadata.columns:
        if column in NOT_GROUPS or column in exclude:
            continue
        labels = labels_of(target_metadata[column])
        distinct = labels.nunique()
        if 1 < distinct <= MAX_GROUP_VALUES and distinct < n:
            out.append(column)
    return out


def labels_of(values: pd.Series) -> pd.Series:
    """Values as display strings, missing ones as ``(missing)``."""
    missing = values.isna()
    labels = values.astype(object).map(str)
    labels[missing] = MISSING
    return labels.reset_index(drop=True)


def breakdown(
    column: str,
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
    """One record per value of ``column`` in the target, largest group first.

    Each record: ``value``, ``n`` (target images), ``n_reference`` (reference images with that
    value; None when the reference lacks the column), ``flagged_share``, ``n_flagged``,
    ``median_degree``, and for groups of at least 10 images (the 20 largest such groups)
    ``distance`` (the group's distance to the whole reference), ``null_level``,
    ``distance_ratio`` and ``p_value``; None otherwise.
    """
    labels = labels_of(target_metadata[column])
    ref_counts = (
        labels_of(reference_metadata[column]).value_counts()
        if column in reference_metadata.columns else None
    )
    counts = labels.value_counts(sort=False).sort_index()
    measured = set(
        counts[counts >= MIN_GROUP_FOR_DISTANCE]
        .sort_values(ascending=False, kind="stable").index[:MAX_GROUP_DISTANCES]
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
                X_reference, X_target[rows], method=method, n_bootstrap=0,
                n_null=GROUP_NULL_SPLITS, random_state=seed,
                groups_a=groups_reference, groups_b=_enough_groups(groups_target, rows),
            )
            record.update(
                distance=result.value, null_level=result.null_level,
                distance_ratio=result.ratio, p_value=result.p_value,
            )
        records.append(record)
    records.sort(key=lambda r: -r["n"])  # stable: equal sizes stay in value order
    return records


def _enough_groups(groups: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    if groups is None:
        return None
    part = groups[rows]
    return part if np.unique(part).size >= 2 else None
