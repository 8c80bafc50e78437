"""The most OOD target images, each with its nearest reference images, ready to show."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fmood.report.thumbnails import Thumbnail, ThumbnailMaker


@dataclass(frozen=True)
class Tile:
    """One image in the gallery: its thumbnail (or why there is none) and labelled fields."""

    name: str
    path: str
    thumbnail: str | None
    reason: str | None
    fields: list[tuple[str, str]]


@dataclass(frozen=True)
class Case:
    """A most-OOD target image (rank 1 = most OOD) and its nearest reference images."""

    rank: int
    target: Tile
    neighbors: list[Tile]


def build_cases(
    rows: np.ndarray,
    table: pd.DataFrame,
    target_metadata: pd.DataFrame,
    reference_metadata: pd.DataFrame,
    neighbor_ids: np.ndarray,
    neighbor_distances: np.ndarray,
    shown_columns: list[str],
    *,
    make_thumbnail: ThumbnailMaker | None = None,
) -> list[Case]:
    """One :class:`Case` per target row in ``rows`` (most OOD first).

    Parameters
    ----------
    rows : ndarray of int
        Target rows, most OOD first.
    table : DataFrame
        ``OODDetector.assess`` of the target.
    target_metadata, reference_metadata : DataFrame
        Store metadata, row i = store id i.
    neighbor_ids, neighbor_distances : ndarray of shape (n_target, k)
        Nearest reference images of every target image.
    shown_columns : list of str
        Metadata columns shown under each image (the group columns).
    """
    thumbnail = make_thumbnail or ThumbnailMaker()
    cases = []
    for rank, row in enumerate(rows, start=1):
        meta = target_metadata.iloc[row]
        record = table.iloc[row]
        fields = [
            ("degree", format_degree(float(record["degree"]))),
            ("surprise", f"{float(record['surprise']):.3g}"),
            ("flagged", "yes" if bool(record["flagged"]) else "no"),
        ]
        if "domain" in table.columns:
            fields.append(("calibrated as", str(record["domain"])))
        target = _tile(meta, _thumbnail_of(thumbnail, meta),
                       fields + _metadata_fields(meta, shown_columns))
        neighbors = []
        for ref_id, distance in zip(neighbor_ids[row], neighbor_distances[row]):
            if ref_id < 0:
                continue
            ref = reference_metadata.iloc[int(ref_id)]
            neighbors.append(_tile(
                ref, _thumbnail_of(thumbnail, ref),
                [("reference id", str(int(ref_id))), ("distance", f"{float(distance):.4g}")]
                + _metadata_fields(ref, shown_columns),
            ))
        cases.append(Case(rank, target, neighbors))
    return cases


def _thumbnail_of(thumbnail: ThumbnailMaker, meta: pd.Series) -> Thumbnail:
    return thumbnail(meta.get("path"), meta.get("frame"), meta.get("pixels_withheld"))


def _tile(meta: pd.Series, thumb: Thumbnail, fields: list[tuple[str, str]]) -> Tile:
    path = meta.get("path")
    path = path if isinstance(path, str) else ""
    name = os.path.basename(path) or "(no path)"
    frame = meta.get("frame")
    if frame is not None and not pd.isna(frame):
        name += f" [frame {int(frame)}]"
    return Tile(name, path, thumb.data_uri, thumb.reason, fields)


def _metadata_fields(meta: pd.Series, columns: list[str]) -> list[tuple[str, str]]:
    out = []
    for column in columns:
        value = meta.get(column)
        if value is not None and not pd.isna(value):
            out.append((column, str(value)))
    return out


def format_degree(degree: float) -> str:
    """Four decimals; ``>0.9999`` where that would round up to 1."""
    return ">0.9999" if 0.9999 < degree else f"{degree:.4f}"
