"""``explain_image``: why was this image flagged? Its degree and its nearest reference images."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fmood.calibration.detector import OODDetector
from fmood.sanitize import printable
from fmood.store import FeatureStore
from fmood.workflows.sources import backbone_of_store


@dataclass(frozen=True)
class ImageExplanation:
    """One image file judged against a feature store.

    Attributes
    ----------
    image : str
        The image file.
    frames : list of int or None
        One entry per embedded frame or slice (None for a 2-D image).
    assessment : DataFrame
        One row per frame: :meth:`OODDetector.assess` (raw scores, ``p_combined``,
        ``degree``, ``surprise``, ``flagged``).
    neighbors : DataFrame
        One row per (frame, neighbour): ``query`` (the frame's row), ``rank``, ``id``,
        ``distance`` and the store's metadata.
    """

    image: str
    frames: list[int | None]
    assessment: pd.DataFrame = field(repr=False)
    neighbors: pd.DataFrame = field(repr=False)

    def __str__(self) -> str:
        blocks = []
        for q, frame in enumerate(self.frames):
            row = self.assessment.iloc[q]
            where = "" if frame is None else f" frame {frame}"
            rows = self.neighbors[self.neighbors["query"] == q].drop(columns="query")
            blocks.append(
                f"{printable(self.image)}{where}:\n  "
                + ", ".join(f"{k} {v}" for k, v in _facts(row))
                + f"\n{compact_table(rows)}"
            )
        return "\n\n".join(blocks)

    def write_html(self, out: str | Path) -> Path:
        """Write a self-contained thumbnail panel: each frame beside its neighbours."""
        from fmood.report.panel import write_panel

        fields = [_facts(self.assessment.iloc[q]) for q in range(len(self.frames))]
        write_panel(Path(out), self.image, self.frames, fields, self.neighbors)
        return Path(out)


def _facts(row: pd.Series) -> list[tuple[str, str]]:
    return [
        ("degree", f"{row['degree']:.4f}"),
        ("surprise", surprise_text(row["p_combined"])),
        ("flagged at 5% FDR", "yes" if row["flagged"] else "no"),
    ]


#: A p-value below this prints as ``< 1e-300`` (float64 reaches about 1e-308, then 0).
_TINY_P = 1e-300


def surprise_text(p_value: float) -> str:
    """``-log10 p`` with the p-value: ``"4.2 (p = 6.3e-05)"``; a p of 0 reads ``> 300``."""
    if p_value < _TINY_P:
        return "> 300 (p < 1e-300)"
    return f"{-np.log10(p_value):.1f} (p = {p_value:.2g})"


#: Widest line :func:`compact_table` prints, and widest cell.
WIDTH = 100
_CELL = 24
#: Kept in the CSV, too long for a terminal: a file's 64-character SHA-256.
_HIDDEN = ("file_sha256",)
_FIRST = ("rank", "id", "distance")


def compact_table(neighbors: pd.DataFrame, width: int = WIDTH) -> str:
    """Neighbours of one query as at most ``width`` characters a line, printable.

    ``neighbors`` holds ``rank``, ``id``, ``distance`` and metadata columns. Hashes and
    empty columns are left out, paths are shown under their common folder, metadata equal
    on every row goes on one line above the table, long cells are cut, and columns that do
    not fit are named in a last line (every column is in the ``--csv`` file).
    """
    table = neighbors.drop(columns=[c for c in _HIDDEN if c in neighbors.columns])
    table = table.loc[:, table.notna().any() & (table.astype(str) != "None").any()]
    notes = []
    if "path" in table.columns and len(table):
        paths = table["path"].astype(str)
        folder = os.path.commonpath(list(paths)) if paths.str.startswith("/").all() else ""
        if folder and len(table) > 1:
            table = table.assign(path=[os.path.relpath(p, folder) for p in paths])
            notes.append(f"paths under {_cut(printable(folder), width - 12, left=True)}")
    meta = [c for c in table.columns if c not in _FIRST]
    constant = [c for c in meta if len(table) > 1 and table[c].astype(str).nunique() == 1]
    if constant:
        notes.append("all: " + ", ".join(f"{c}={table[c].iloc[0]}" for c in constant))
    shown = table.drop(columns=constant)
    if "distance" in shown.columns:
        shown = shown.assign(distance=shown["distance"].map(lambda d: f"{d:.4g}"))
    shown = shown.map(lambda v: _cut(printable(str(v)), _CELL)).rename(columns=printable)
    if "path" in table.columns:  # a file name says more than its folders: cut on the left
        shown["path"] = [_cut(printable(str(p)), 2 * _CELL, left=True) for p in table["path"]]
    kept: list[str] = []
    for column in shown.columns:
        lines = shown[[*kept, column]].to_string(index=False).splitlines()
        if kept and max(map(len, lines)) > width:
            break
        kept.append(column)
    left_out = [c for c in shown.columns if c not in kept]
    if left_out:
        notes.append(f"{len(left_out)} more column(s) in --csv: {', '.join(left_out)}")
    lines = [_cut(printable(n), width) for n in notes]
    return "\n".join([*lines, shown[kept].to_string(index=False)])


def query_line(metadata: pd.Series, width: int = WIDTH) -> str:
    """A query's own metadata as ``key=value`` pairs, hashes and empty fields left out."""
    pairs = [
        f"{k}={_cut(printable(str(v)), 2 * _CELL, left=k == 'path')}"
        for k, v in metadata.items()
        if k not in _HIDDEN and v is not None and str(v) not in ("None", "nan")
    ]
    return _cut(", ".join(pairs), width)


def _cut(text: str, n: int, left: bool = False) -> str:
    """``text`` in at most ``n`` characters, cut at the end (or start) with ``...``."""
    if len(text) <= n:
        return text
    return "..." + text[len(text) - n + 3 :] if left else text[: n - 3] + "..."


def explain_image(
    store: FeatureStore | str | Path,
    image: str | Path,
    *,
    k: int = 8,
    detector: OODDetector | str | Path | None = None,
    weights: str | None = None,
    device: str = "auto",
) -> ImageExplanation:
    """Embed ``image`` with ``store``'s own backbone, judge it, and find its neighbours.

    Parameters
    ----------
    store : FeatureStore or path
        The reference feature store; its fingerprint rebuilds the backbone (a mismatch
        with ``weights`` is an error, never a silent mix of feature spaces).
    image : path
        An image file (PNG/JPEG/TIFF, DICOM, NIfTI: one query per frame or slice).
    k : int
        Neighbours per frame.
    detector : OODDetector or path, optional
        A fitted detector (or one saved by ``fmood fit``); default: fitted on the store,
        patients kept whole when a ``patient`` column exists.
    weights, device
        For rebuilding the backbone (:func:`fmood.workflows.backbone_of_store`).
    """
    from fmood.io import read_image

    if not isinstance(store, FeatureStore):
        store = FeatureStore.open(store)
    images = read_image(image)  # a missing or unreadable file fails before the model loads
    backbone = backbone_of_store(store, weights=weights, device=device)
    queries = backbone.embed(images)
    if detector is None:
        meta = store.metadata
        groups = meta["patient"].astype(str).to_numpy() if "patient" in meta.columns else None
        detector = OODDetector().fit(store.embeddings, groups=groups)
    elif not isinstance(detector, OODDetector):
        detector = OODDetector.load(detector)
    return ImageExplanation(
        image=str(image),
        frames=[im.frame for im in images],
        assessment=detector.assess(queries),
        neighbors=store.nearest(queries, k=k).table(),
    )
