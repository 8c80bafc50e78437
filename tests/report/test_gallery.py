"""Gallery captions: a few fields, and under a neighbour only what differs from the target."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fmood.report.gallery import MAX_CAPTION_FIELDS, build_cases, differing_fields
from fmood.report.html import agreement_notes
from fmood.report.thumbnails import Thumbnail

COLUMNS = ["site", "modality", "vendor", "width", "height"]


def test_a_neighbour_caption_lists_only_fields_that_differ_from_the_target():
    target = pd.Series(
        {"site": "A", "modality": "MR", "vendor": "GE", "width": 512, "height": None}
    )
    neighbour = pd.Series(
        {"site": "A", "modality": "CT", "vendor": "GE", "width": 256, "height": 300}
    )
    assert differing_fields(target, neighbour, COLUMNS) == [
        ("modality", "CT"),
        ("width", "256"),
        ("height", "300"),
    ]
    assert differing_fields(target, target, COLUMNS) == []
    assert differing_fields(target, pd.Series({"site": "B", "vendor": None}), COLUMNS) == [
        ("site", "B")
    ]
    everything = pd.Series({c: f"other {c}" for c in COLUMNS})
    assert len(differing_fields(target, everything, COLUMNS)) == MAX_CAPTION_FIELDS


def test_cases_have_compact_captions_and_their_notes():
    """Issue 12: each neighbour caption repeated about ten metadata fields."""
    n_ref = 6
    meta = {f"field{i}": ["same"] * n_ref for i in range(10)}
    reference = pd.DataFrame(
        {"path": [f"/r/{i}.png" for i in range(n_ref)], **meta, "site": ["A", "B"] * 3}
    )
    target = pd.DataFrame(
        {"path": ["/t/0.png"], **{k: v[:1] for k, v in meta.items()}, "site": ["A"]}
    )
    table = pd.DataFrame(
        {"surprise": [3.2], "p_combined": [6e-4], "flagged": [True], "degree": [0.9994]}
    )
    columns = [*meta, "site"]
    [case] = build_cases(
        np.array([0]),
        table,
        target,
        reference,
        np.array([[1, 0, 3]]),
        np.array([[0.5, 0.6, 0.7]]),
        columns,
        notes=["(+3 similar images)"],
        make_thumbnail=lambda *args: Thumbnail(None, "test"),
    )
    assert case.note == "(+3 similar images)"
    assert len(case.target.fields) == 2 + MAX_CAPTION_FIELDS
    assert [dict(n.fields) for n in case.neighbors] == [
        {"distance": "0.5", "site": "B"},
        {"distance": "0.6"},
        {"distance": "0.7", "site": "B"},
    ]


def test_agreement_notes_explain_what_a_rank_correlation_means():
    agreement = {
        "spearman": {
            "mahalanobis": {"mahalanobis": 1.0, "residual": 1.0, "knn": 0.3},
            "residual": {"mahalanobis": 1.0, "residual": 1.0, "knn": 0.7},
            "knn": {"mahalanobis": 0.3, "residual": 0.7, "knn": 1.0},
        }
    }
    same, different, broad = agreement_notes(agreement)
    assert "mahalanobis and residual (Spearman 1.00)" in same and "same order" in same
    assert "one line of evidence" in same
    assert "mahalanobis and knn (Spearman 0.30)" in different and "either" in different
    assert "residual and knn (Spearman 0.70)" in broad
