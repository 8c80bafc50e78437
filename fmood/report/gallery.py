"""The most OOD target images, each with its nearest reference images, ready to show."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

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
    """A target image (rank 1 = first shown), its nearest reference images and a note."""

    rank: int
    target: Tile
    neighbors: list[Tile]
    note: str = ""


#: Metadata fields under an image: a caption should be read at a glance.
MAX_CAPTION_FIELDS = 3


def build_cases(
    rows: np.ndarray,
    table: pd.DataFrame,
    target_metadata: pd.DataFrame,
    reference_metadata: pd.DataFrame,
    neighbor_ids: np.ndarray,
    neighbor_distances: np.ndarray,
    shown_columns: list[str],
    *,
    notes: list[str] | None = None,
    make_thumbnail: ThumbnailMaker | None = None,
) -> list[Case]:
    """One :class:`Case` per target row in ``rows``, in that order.

    Parameters
    ----------
    rows : ndarray of int
        Target rows to show.
    table : DataFrame
        ``OODDetector.assess`` of the target.
    target_metadata, reference_metadata : DataFrame
        Store metadata, row i = store id i.
    neighbor_ids, neighbor_distances : ndarray of shape (n_target, k)
        Nearest reference images of every target image.
    shown_columns : list of str
        Metadata columns a caption may show (the group columns): the target shows its first
        :data:`MAX_CAPTION_FIELDS` values, a neighbour those that differ from the target.
    notes : list of str, optional
        A line per case (why it is shown).
    """
    thumbnail = make_thumbnail or ThumbnailMaker()
    cases = []
    for rank, row in enumerate(rows, start=1):
        meta = target_metadata.iloc[row]
        record = table.iloc[row]
        fields = [
            ("surprise", f"{float(record['surprise']):.3g}"),
            ("p", f"{float(record['p_combined']):.2g}"),
        ]
        if "domain" in table.columns:
            fields.append(("calibrated as", str(record["domain"])))
        target = _tile(
            meta,
            _thumbnail_of(thumbnail, meta),
            fields + _metadata_fields(meta, shown_columns)[:MAX_CAPTION_FIELDS],
        )
        neighbors = []
        for ref_id, distance in zip(neighbor_ids[row], neighbor_distances[row], strict=False):
            if ref_id < 0:
                continue
            ref = reference_metadata.iloc[int(ref_id)]
            neighbors.append(
                _tile(
                    ref,
                    _thumbnail_of(thumbnail, ref),
                    [
                        ("distance", f"{float(distance):.3g}"),
                        *differing_fields(meta, ref, shown_columns),
                    ],
                    title=f"reference id {int(ref_id)}",
                )
            )
        note = notes[rank - 1] if notes is not None else ""
        cases.append(Case(rank, target, neighbors, note))
    return cases


def differing_fields(
    target: pd.Series, neighbor: pd.Series, columns: list[str], limit: int = MAX_CAPTION_FIELDS
) -> list[tuple[str, str]]:
    """Up to ``limit`` (column, value) of ``neighbor`` whose value differs from ``target``'s.

    Only values the neighbour has are listed: a column it lacks or leaves empty is skipped.
    """
    out = []
    for column in columns:
        theirs = _display(neighbor.get(column))
        if theirs is not None and theirs != _display(target.get(column)):
            out.append((column, theirs))
        if len(out) == limit:
            break
    return out


def _display(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _thumbnail_of(thumbnail: ThumbnailMaker, meta: pd.Series) -> Thumbnail:
    return thumbnail(meta.get("path"), meta.get("frame"), meta.get("pixels_withheld"))


def _tile(
    meta: pd.Series, thumb: Thumbnail, fields: list[tuple[str, str]], title: str = ""
) -> Tile:
    path = meta.get("path")
    path = path if isinstance(path, str) else ""
    if title:
        path = f"{path} ({title})" if path else title
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
    return ">0.9999" if degree > 0.9999 else f"{degree:.4f}"
