"""The report's files: ``report.html``, ``scores.csv`` and ``summary.json``, written whole.

The three files are written into a staging directory next to ``out_dir`` that then replaces
``out_dir`` in one rename, so a run that fails at any point leaves the previous report (or
nothing) in place, never a mix of old and new files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmood.sanitize import csv_safe
from fmood.utils.atomic import fsync_file, make_shared, staged_directory

# The guard moved to fmood.utils.outputs (every command writing a directory uses it); still
# importable from here.
from fmood.utils.outputs import check_out_dir as check_out_dir

HTML_NAME = "report.html"
SCORES_NAME = "scores.csv"
SUMMARY_NAME = "summary.json"
SUMMARY_FORMAT = "fmood.report"
SUMMARY_FORMAT_VERSION = 1


def scores_table(
    target_metadata: pd.DataFrame,
    table: pd.DataFrame,
    neighbor_ids: np.ndarray,
    neighbor_distances: np.ndarray,
) -> pd.DataFrame:
    """One row per target image: id, path, frame, metadata, the assessment, nearest references.

    Metadata columns whose names clash with the assessment's are prefixed ``metadata_``.
    ``nearest_reference_ids`` and ``nearest_reference_distances`` are semicolon-joined, nearest
    first.
    """
    meta = target_metadata.reset_index(drop=True)
    if "frame" not in meta.columns:
        meta["frame"] = pd.Series([pd.NA] * len(meta), dtype="Int64")
    ordered = ["path", "frame"] + [c for c in meta.columns if c not in ("path", "frame")]
    meta = meta[ordered]
    ours = set(table.columns) | {
        "target_id",
        "nearest_reference_ids",
        "nearest_reference_distances",
    }
    meta = meta.rename(columns={c: f"metadata_{c}" for c in meta.columns if c in ours})
    assessed = table.reset_index(drop=True)
    out = pd.concat(
        [pd.DataFrame({"target_id": np.arange(len(meta), dtype=np.int64)}), meta, assessed],
        axis=1,
    )
    out["nearest_reference_ids"] = [
        ";".join(str(int(i)) for i in row if i >= 0) for row in neighbor_ids
    ]
    out["nearest_reference_distances"] = [
        ";".join(f"{float(d):.6g}" for i, d in zip(ids, row, strict=True) if i >= 0)
        for ids, row in zip(neighbor_ids, neighbor_distances, strict=True)
    ]
    return out


def plain(obj: Any) -> Any:
    """Recursively plain Python values; NaN and infinities become None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(key): plain(item) for key, item in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(item) for item in obj]
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, np.generic):
        return plain(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def summary_bytes(summary: dict[str, Any]) -> bytes:
    """``summary`` as strict JSON (no NaN), with the report format marker first."""
    marked = {"format": SUMMARY_FORMAT, "format_version": SUMMARY_FORMAT_VERSION, **summary}
    return json.dumps(plain(marked), indent=2, allow_nan=False, ensure_ascii=False).encode("utf-8")


def write_report(
    out_dir: Path, html: str, scores: pd.DataFrame, summary: dict[str, Any]
) -> dict[str, Path]:
    """Write the three files into a staging directory that then replaces ``out_dir`` whole.

    Text cells of ``scores.csv`` that a spreadsheet would run as a formula are quoted
    (:func:`fmood.sanitize.csv_safe`). Returns the final path of each file, keyed ``html``,
    ``scores`` and ``summary``.
    """
    with staged_directory(out_dir) as staging:
        make_shared(staging)  # mkdtemp makes it owner-only; a report is shared
        csv_safe(scores).to_csv(staging / SCORES_NAME, index=False)
        (staging / SUMMARY_NAME).write_bytes(summary_bytes(summary))
        _write_html(staging / HTML_NAME, html)
        for name in (SCORES_NAME, SUMMARY_NAME, HTML_NAME):
            fsync_file(staging / name)  # on disk before the directory is swapped in
    return {
        "html": out_dir / HTML_NAME,
        "scores": out_dir / SCORES_NAME,
        "summary": out_dir / SUMMARY_NAME,
    }


def _write_html(path: Path, html: str) -> None:
    path.write_text(html, encoding="utf-8")
