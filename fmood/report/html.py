"""Rendering the report page: numbers formatted for reading, every data string escaped.

Jinja2 autoescaping escapes every value put into the page (file names, DICOM fields, CSV
columns and values), so no data can add markup or scripts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jinja2
import markupsafe

from fmood.distances import DistanceResult
from fmood.report import template
from fmood.report.analysis import MAP_MAX_POINTS, SAME_CASE_FACTOR, EmbeddingMap
from fmood.report.gallery import Case, format_degree
from fmood.report.groups import (
    MAX_CATEGORIES,
    MAX_NUMERIC_CATEGORIES,
    MIN_GROUP_FOR_DISTANCE,
    N_BINS,
)
from fmood.report.verdict import (
    FLAGGED_THRESHOLDS,
    METHOD_LABELS,
    RATIO_THRESHOLDS,
    Verdict,
    format_ratio,
    format_share,
)

DEGREE_DEFINITION = (
    "1 minus the combined conformal p-value. A degree of 0.999 means the image is more "
    "atypical than 99.9% of the reference's calibration part (held out from fitting, split by "
    "patient when a patient column exists). Beyond the most atypical calibration image the "
    "p-value continues along a fitted generalised Pareto tail, so images keep being ranked; "
    "surprise = -log10 p carries that ranking where the degree rounds to 1. Images are flagged "
    "with Benjamini-Hochberg at the stated false-discovery rate across the target."
)

_ENVIRONMENT = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
_TEMPLATE = _ENVIRONMENT.from_string(template.REPORT)


@dataclass(frozen=True)
class Page:
    """Everything the page shows, unformatted."""

    verdict: Verdict
    distance: DistanceResult
    alpha: float
    n_reference: int
    n_target: int
    n_flagged: int
    n_calibration: int
    reference_name: str
    target_name: str
    backbone: str
    metric: str
    degree_plot: str
    map_plot: str
    embedding_map: EmbeddingMap
    groups: dict[str, list[dict[str, Any]]]
    binned: list[str]
    left_out: list[tuple[str, str]]
    cases: list[Case]
    borderline_flagged: list[Case]
    borderline_clear: list[Case]
    bh_threshold: float
    next_steps: str
    agreement: dict[str, Any]
    k_neighbors: int
    n_top: int
    about: list[tuple[str, str]]


def render(page: Page) -> str:
    """The report as one self-contained HTML document."""
    method = page.distance.method
    return _TEMPLATE.render(
        css=markupsafe.Markup(template.CSS),  # code, not data: escaping would break its quotes
        status=page.verdict.status,
        status_class=page.verdict.status.replace(" ", "-"),
        verdict=page.verdict.sentence,
        next_steps=page.next_steps,
        status_rule=describe_rule(method, page.alpha),
        n_reference=page.n_reference,
        n_target=page.n_target,
        n_flagged=page.n_flagged,
        n_calibration=page.n_calibration,
        alpha_percent=f"{page.alpha * 100:g}%",
        reference_name=page.reference_name,
        target_name=page.target_name,
        backbone=page.backbone,
        metric=page.metric,
        degree_plot=page.degree_plot,
        map_plot=page.map_plot,
        map_note=page.embedding_map.note,
        map_subsampled=max(page.n_reference, page.n_target) > MAP_MAX_POINTS,
        map_max=MAP_MAX_POINTS,
        groups=[
            {"column": column, "rows": [_group_row(r) for r in records]}
            for column, records in page.groups.items()
        ],
        max_group_values=MAX_CATEGORIES,
        n_bins=N_BINS,
        max_numeric_values=MAX_NUMERIC_CATEGORIES,
        binned=page.binned,
        left_out=page.left_out,
        min_group=MIN_GROUP_FOR_DISTANCE,
        method_label=METHOD_LABELS.get(method, method),
        top=page.cases,
        borderline_flagged=page.borderline_flagged,
        borderline_clear=page.borderline_clear,
        bh_threshold=f"{page.bh_threshold:.2g}",
        bh_surprise=f"{-math.log10(page.bh_threshold):.2f}" if page.bh_threshold > 0 else "–",
        same_case_factor=f"{SAME_CASE_FACTOR:g}",
        k_neighbors=page.k_neighbors,
        n_top=page.n_top,
        agreement=_agreement(page.agreement),
        agreement_notes=agreement_notes(page.agreement),
        degree_definition=DEGREE_DEFINITION,
        about=page.about,
    )


def describe_rule(method: str, alpha: float) -> str:
    """The status rule in one sentence, with the thresholds used for ``method``."""
    label = METHOD_LABELS.get(method, method)
    f_shifted, f_strong = FLAGGED_THRESHOLDS
    if method in RATIO_THRESHOLDS:
        shifted, strong = RATIO_THRESHOLDS[method]
        test = f" with permutation p < {alpha:g}" if method == "mmd" else ""
        return (
            f"\u201cshifted\u201d when the target's {label} is at least {shifted:g}x its null "
            f"level{test} or at least {f_shifted:.0%} of target images are flagged; "
            f"\u201cstrongly shifted\u201d at {strong:g}x{test} or {f_strong:.0%} flagged; "
            "otherwise \u201cin-distribution\u201d."
        )
    return (
        f"\u201cshifted\u201d when the bootstrap interval of the target's {label} lies above its "
        f"null level or at least {f_shifted:.0%} of target images are flagged; \u201cstrongly "
        f"shifted\u201d when at least {f_strong:.0%} are flagged (the {label} has no fixed scale "
        "for a stronger call); otherwise \u201cin-distribution\u201d."
    )


def _group_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "value": record["value"],
        "n": record["n"],
        "n_reference": "–" if record["n_reference"] is None else record["n_reference"],
        "flagged": f"{format_share(record['flagged_share'])} ({record['n_flagged']})",
        "flagged_width": f"{record['flagged_share'] * 100:.1f}",
        "median_degree": format_degree(record["median_degree"]),
        "ratio": format_ratio(record["distance_ratio"]),
        "p_value": _number(record["p_value"]),
    }


def _agreement(agreement: dict[str, Any]) -> dict[str, Any]:
    names = list(agreement["spearman"])
    return {
        "names": names,
        "matrix": [
            {"name": a, "cells": [_number(agreement["spearman"][a][b], ".2f") for b in names]}
            for a in names
        ],
        "records": [
            {
                "scorer": r["scorer"],
                "spearman": _number(r["spearman_with_combined"], ".2f"),
                "flagged_alone": _share(r["flagged_share_alone"]),
                "of_combined": _share(r["share_of_combined_flags"]),
                "top_overlap": f"{r['top_overlap']} of {r['n_top']}",
            }
            for r in agreement["scorers"]
        ],
    }


#: Spearman at or above which two scorers count as carrying the same evidence, and below
#: which they count as seeing different things.
SAME_EVIDENCE, DIFFERENT_EVIDENCE = 0.95, 0.5


def agreement_notes(agreement: dict[str, Any]) -> list[str]:
    """One sentence per pair of scorers saying what their rank correlation means."""
    names = list(agreement["spearman"])
    notes = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            rho = agreement["spearman"][a][b]
            if rho is None:
                continue
            if rho >= SAME_EVIDENCE:
                notes.append(
                    f"{a} and {b} (Spearman {rho:.2f}) put the target images in the same order: "
                    "here they measure the same departure from the reference, so their "
                    "combination rests on one line of evidence, not two independent ones."
                )
            elif rho < DIFFERENT_EVIDENCE:
                notes.append(
                    f"{a} and {b} (Spearman {rho:.2f}) rank the target differently: each sees "
                    "a kind of departure the other misses, and the combined p-value flags an "
                    "image when either finds it atypical."
                )
            else:
                notes.append(
                    f"{a} and {b} (Spearman {rho:.2f}) broadly agree on which images are "
                    "atypical but differ in the order of the rest."
                )
    return notes


def _share(value: float | None) -> str:
    return "–" if value is None else format_share(value)


def _number(value: float | None, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)
