"""Which metadata columns are broken down, and the per-group numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import clustered

from fmood.errors import InvalidInputError
from fmood.report.groups import (
    MISSING,
    N_BINS,
    breakdown,
    choose_groupings,
    group_columns,
)


def test_group_columns_keep_few_valued_columns_bin_numbers_and_say_what_is_left_out():
    n = 120
    meta = pd.DataFrame(
        {
            "path": [f"/x/{i}.png" for i in range(n)],
            "frame": pd.array([i % 3 for i in range(n)], dtype="Int64"),
            "patient": [f"p{i // 2}" for i in range(n)],
            "site": ["A", "B", "C"] * 40,
            "one_vendor": ["GE"] * n,
            "accession": [f"acc{i}" for i in range(n)],
            "label": pd.array([0, 1, None] * 40, dtype="Int64"),
            "many": [i % 60 for i in range(n)],
            "free_text": [f"note {i % 30}" for i in range(n)],
        }
    )
    chosen, left_out = choose_groupings(meta, exclude=("patient",))
    assert [g.column for g in chosen] == ["site", "label", "many"]
    assert [g.edges is not None for g in chosen] == [False, False, True]
    assert group_columns(meta, exclude=("patient",)) == ["site", "label", "many"]
    reasons = dict(left_out)
    assert set(reasons) == {"path", "frame", "patient", "one_vendor", "accession", "free_text"}
    assert "one value" in reasons["one_vendor"] and "per image" in reasons["accession"]
    assert "30 distinct values" in reasons["free_text"]


def test_width_and_height_of_a_plain_folder_get_a_few_quantile_bins_not_a_row_per_value():
    """Issue 12: a folder's 50 widths gave a 50-row table."""
    rng = np.random.default_rng(0)
    widths = rng.choice([256, 300, 320, 370, 400, 480, 512, 600, 640, 700, 800, 1024], 60)
    tgt_meta = pd.DataFrame({"width": widths, "height": widths // 2})
    ref_meta = pd.DataFrame({"width": [100, 300, 700, 5000]})
    [width, height], left_out = choose_groupings(tgt_meta)
    assert left_out == [] and width.column == "width" and height.column == "height"
    table = pd.DataFrame({"flagged": widths > 900, "degree": widths / 1200})
    X = clustered(60, seed=1)
    records = breakdown(
        width,
        tgt_meta,
        ref_meta,
        table,
        clustered(100, seed=0),
        X,
        method="frechet",
        groups_reference=None,
        groups_target=None,
        seed=0,
    )
    assert 2 <= len(records) <= N_BINS
    assert sum(r["n"] for r in records) == 60
    lows = [float(r["value"].split("–")[0]) for r in records]
    assert lows == sorted(lows)  # bins in the order of their values
    assert records[-1]["flagged_share"] > records[0]["flagged_share"]
    # Reference values are counted in the target's bins; those beyond them in none.
    assert sum(r["n_reference"] for r in records) == 2


def test_breakdown_counts_flags_and_measures_large_groups_only():
    X_ref = clustered(200, seed=0)
    X_tgt = np.concatenate([clustered(40, seed=1), clustered(8, shift=8.0, seed=2)])
    tgt_meta = pd.DataFrame({"site": ["A"] * 40 + [None] * 8})
    ref_meta = pd.DataFrame({"site": ["A"] * 100 + ["B"] * 100})
    table = pd.DataFrame({"flagged": [False] * 40 + [True] * 8, "degree": [0.5] * 40 + [0.999] * 8})
    records = breakdown(
        "site",
        tgt_meta,
        ref_meta,
        table,
        X_ref,
        X_tgt,
        method="mmd",
        groups_reference=None,
        groups_target=None,
        seed=0,
    )
    assert [r["value"] for r in records] == ["A", MISSING]
    a, missing = records
    assert (a["n"], a["n_reference"], a["n_flagged"], a["flagged_share"]) == (40, 100, 0, 0.0)
    assert a["median_degree"] == pytest.approx(0.5) and a["distance_ratio"] is not None
    assert (missing["n"], missing["n_reference"], missing["flagged_share"]) == (8, 0, 1.0)
    assert missing["distance"] is None and missing["distance_ratio"] is None


def test_a_column_the_reference_lacks_has_no_reference_count():
    X = clustered(60, seed=0)
    table = pd.DataFrame({"flagged": [False] * 30, "degree": [0.1] * 30})
    records = breakdown(
        "scanner",
        pd.DataFrame({"scanner": ["x", "y"] * 15}),
        pd.DataFrame(),
        table,
        X,
        X[:30],
        method="frechet",
        groups_reference=None,
        groups_target=None,
        seed=0,
    )
    assert {r["n_reference"] for r in records} == {None}


def test_a_column_the_target_lacks_is_a_clear_error_not_an_attribute_error():
    X = clustered(60, seed=0)
    table = pd.DataFrame({"flagged": [False] * 30, "degree": [0.1] * 30})
    with pytest.raises(InvalidInputError, match="target metadata has no column 'scanner'"):
        breakdown(
            "scanner",
            pd.DataFrame({"site": ["a"] * 30}),
            pd.DataFrame({"scanner": ["x"] * 60}),
            table,
            X,
            X[:30],
            method="frechet",
            groups_reference=None,
            groups_target=None,
            seed=0,
        )
