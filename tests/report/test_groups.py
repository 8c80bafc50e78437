"""Which metadata columns are broken down, and the per-group numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import clustered

from fmood.report.groups import MISSING, breakdown, group_columns


def test_group_columns_keep_only_real_groupings():
    n = 120
    meta = pd.DataFrame({
        "path": [f"/x/{i}.png" for i in range(n)],
        "frame": pd.array([i % 3 for i in range(n)], dtype="Int64"),
        "patient": [f"p{i // 2}" for i in range(n)],
        "site": ["A", "B", "C"] * 40,
        "one_vendor": ["GE"] * n,
        "accession": [f"acc{i}" for i in range(n)],
        "label": pd.array([0, 1, None] * 40, dtype="Int64"),
        "many": [i % 60 for i in range(n)],
    })
    assert group_columns(meta, exclude=("patient",)) == ["site", "label"]


def test_breakdown_counts_flags_and_measures_large_groups_only():
    X_ref = clustered(200, seed=0)
    X_tgt = np.concatenate([clustered(40, seed=1), clustered(8, shift=8.0, seed=2)])
    tgt_meta = pd.DataFrame({"site": ["A"] * 40 + [None] * 8})
    ref_meta = pd.DataFrame({"site": ["A"] * 100 + ["B"] * 100})
    table = pd.DataFrame({"flagged": [False] * 40 + [True] * 8,
                          "degree": [0.5] * 40 + [0.999] * 8})
    records = breakdown("site", tgt_meta, ref_meta, table, X_ref, X_tgt, method="mmd",
                        groups_reference=None, groups_target=None, seed=0)
    assert [r["value"] for r in records] == ["A", MISSING]
    a, missing = records
    assert (a["n"], a["n_reference"], a["n_flagged"], a["flagged_share"]) == (40, 100, 0, 0.0)
    assert a["median_degree"] == pytest.approx(0.5) and a["distance_ratio"] is not None
    assert (missing["n"], missing["n_reference"], missing["flagged_share"]) == (8, 0, 1.0)
    assert missing["distance"] is None and missing["distance_ratio"] is None


def test_a_column_the_reference_lacks_has_no_reference_count():
    X = clustered(60, seed=0)
    table = pd.DataFrame({"flagged": [False] * 30, "degree": [0.1] * 30})
    records = breakdown("scanner", pd.DataFrame({"scanner": ["x", "y"] * 15}), pd.DataFrame(),
                        table, X, X[:30], method="frechet", groups_reference=None,
                        groups_target=None, seed=0)
    assert {r["n_reference"] for r in records} == {None}
