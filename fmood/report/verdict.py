"""The report's headline: a three-level status and one plain sentence behind it.

Status rule (both halves are documented in the report's footer and in ``summary.json``):

- the **dataset distance** counts as evidence of a shift when its ratio to the null level
  (the same distance between two parts of the reference) reaches a threshold *and*, for a
  distance with a test (MMD), its permutation p-value is below ``alpha``. For MMD (unbiased,
  so its ratio means the same at any sample size) the thresholds are 3x ("shifted") and 10x
  ("strongly shifted"); for the domain classifier, whose value is an AUROC with a null level
  near 0.5, 1.2x and 1.6x (AUROC about 0.6 and 0.8). The biased estimators (Fréchet, sliced
  Wasserstein, Sinkhorn) have ratios whose scale depends on dimension and sample size, so for
  them the distance only says "shifted", when its whole bootstrap interval lies above the null
  level, and never "strongly shifted";
- the **flagged share** (images flagged at false-discovery rate ``alpha``) counts as
  evidence at 10% ("shifted") and 50% ("strongly shifted"). A target drawn from the reference
  distribution has a flagged share near 0 (Benjamini-Hochberg flags nothing at all with
  probability at least ``1 - alpha`` when no image is OOD).

The status is the stronger of the two: "strongly shifted", "shifted" or "in-distribution".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fmood.distances import DistanceResult

IN_DISTRIBUTION = "in-distribution"
SHIFTED = "shifted"
STRONGLY_SHIFTED = "strongly shifted"
STATUSES = (IN_DISTRIBUTION, SHIFTED, STRONGLY_SHIFTED)

#: (shifted, strongly shifted) thresholds on the distance-to-null-level ratio, for the
#: distances whose ratio has a fixed meaning; the others use their interval (module doc).
RATIO_THRESHOLDS = {"mmd": (3.0, 10.0), "classifier": (1.2, 1.6)}
#: (shifted, strongly shifted) thresholds on the share of target images flagged.
FLAGGED_THRESHOLDS = (0.10, 0.50)

METHOD_LABELS = {
    "mmd": "MMD²",
    "frechet": "Fréchet distance",
    "sliced_wasserstein": "sliced Wasserstein distance",
    "sinkhorn": "Sinkhorn cost",
    "classifier": "domain-classifier AUROC",
}


@dataclass(frozen=True)
class Verdict:
    """Status, the sentence saying why, and the level each half of the rule reached."""

    status: str
    sentence: str
    distance_level: int
    flagged_level: int


def status_rule(method: str) -> dict[str, object]:
    """The thresholds applied for ``method``, as written to ``summary.json``."""
    rule: dict[str, object] = {}
    if method in RATIO_THRESHOLDS:
        shifted, strong = RATIO_THRESHOLDS[method]
        rule["distance_ratio"] = {SHIFTED: shifted, STRONGLY_SHIFTED: strong}
        rule["distance_needs_p_value_below_alpha"] = True
    else:
        rule["distance"] = f"{SHIFTED} when the bootstrap interval lies above the null level"
    rule["flagged_share"] = {
        SHIFTED: FLAGGED_THRESHOLDS[0],
        STRONGLY_SHIFTED: FLAGGED_THRESHOLDS[1],
    }
    rule["status"] = "the stronger of the distance level and the flagged-share level"
    return rule


def distance_level(result: DistanceResult, alpha: float) -> int:
    """0, 1 or 2: how far the distance's ratio to its null level reaches (see module doc)."""
    ratio = result.ratio
    if ratio is None or math.isnan(ratio):
        return 0
    if result.p_value is not None and result.p_value >= alpha:
        return 0
    if result.method not in RATIO_THRESHOLDS:
        low, null = result.ci_low, result.null_level
        return int(low is not None and null is not None and low > null)
    shifted, strong = RATIO_THRESHOLDS[result.method]
    return 2 if ratio >= strong else 1 if ratio >= shifted else 0


def flagged_level(flagged_share: float) -> int:
    """0, 1 or 2 from the share of flagged target images."""
    shifted, strong = FLAGGED_THRESHOLDS
    return 2 if flagged_share >= strong else 1 if flagged_share >= shifted else 0


def judge(
    result: DistanceResult,
    flagged_share: float,
    n_flagged: int,
    n_target: int,
    alpha: float,
    small_reference: bool = False,
) -> Verdict:
    """The status and the headline sentence for a distance result and a flagged share.

    With a ``small_reference`` (see :func:`small_reference_note`) flags alone raise the status
    to "shifted" at most: clean images of a new patient can reach the p-value floor there.
    """
    d_level, f_level = distance_level(result, alpha), flagged_level(flagged_share)
    if small_reference:
        f_level = min(f_level, 1)
    status = STATUSES[max(d_level, f_level)]
    sentence = (
        f"{_distance_clause(result)}; {format_share(flagged_share)} of target images "
        f"({n_flagged} of {n_target}) are flagged as out-of-distribution at "
        f"{_percent(alpha)} false-discovery rate."
    )
    return Verdict(status, sentence, d_level, f_level)


def _distance_clause(result: DistanceResult) -> str:
    label = METHOD_LABELS.get(result.method, result.method)
    detail = f"{label} {_num(result.value)}"
    if result.ci_low is not None and result.ci_high is not None:
        confidence = result.params.get("confidence", 0.95)
        detail += f", {_percent(confidence)} CI {_num(result.ci_low)} to {_num(result.ci_high)}"
    if result.null_level is not None:
        detail += f", null level {_num(result.null_level)}"
    if result.p_value is not None:
        detail += f", permutation p = {_num(result.p_value)}"
    ratio = result.ratio
    if ratio is None:
        return (
            f"The target's distance from the reference has no null level to compare with ({detail})"
        )
    if math.isinf(ratio):
        return (
            "The target differs from the reference, whose own parts are indistinguishable "
            f"(null level 0; {detail})"
        )
    if math.isnan(ratio) or ratio < 1.1:
        return (
            "The target is no farther from the reference than the reference is from itself "
            f"(ratio {_num(ratio)}; {detail})"
        )
    return (
        f"The target is {format_ratio(ratio)} farther from the reference than the reference "
        f"is from itself ({detail})"
    )


def format_ratio(ratio: float | None) -> str:
    """``17x``, ``2.3x``; a dash when there is no ratio."""
    if ratio is None or math.isnan(ratio):
        return "–"
    if math.isinf(ratio):
        return "∞"
    return f"{ratio:.0f}x" if abs(ratio) >= 10 else f"{ratio:.1f}x"


def format_share(share: float) -> str:
    """A share as a percentage a reader takes in at a glance: ``83%``, ``<1%``, ``0%``."""
    if share == 0:
        return "0%"
    if share < 0.01:
        return "<1%"
    if share > 0.99 and share < 1:
        return ">99%"
    return f"{share * 100:.0f}%"


def _percent(value: float) -> str:
    return f"{value * 100:g}%"


def _num(value: float) -> str:
    return f"{value:.3g}"


#: A group "dominates" the flags when it holds at least this share of them and its own
#: flagged share is at least ``CONCENTRATION_LIFT`` times that of the rest of the target.
CONCENTRATION_SHARE = 0.5
CONCENTRATION_LIFT = 2.0


def concentrated_group(
    groups: dict[str, list[dict[str, Any]]], n_flagged: int, n_target: int
) -> dict[str, Any] | None:
    """The metadata group the flagged images concentrate in, or None.

    Returns ``column``, ``value``, ``n``, ``n_flagged``, ``n_reference``, ``share_of_flags``
    and ``rest_share`` (flagged share outside the group) of the group holding the largest share
    of the flags, when it holds at least :data:`CONCENTRATION_SHARE` of them and is flagged at
    least :data:`CONCENTRATION_LIFT` times as often as the rest (or the rest not at all).
    """
    if n_flagged < 2:
        return None
    best = None
    for column, records in groups.items():
        for record in records:
            rest_n = n_target - record["n"]
            if rest_n <= 0 or record["n_flagged"] == 0:
                continue
            rest_share = (n_flagged - record["n_flagged"]) / rest_n
            share_of_flags = record["n_flagged"] / n_flagged
            if share_of_flags < CONCENTRATION_SHARE:
                continue
            if rest_share > 0 and record["flagged_share"] < CONCENTRATION_LIFT * rest_share:
                continue
            found = {
                "column": column,
                "value": record["value"],
                "n": record["n"],
                "n_flagged": record["n_flagged"],
                "n_reference": record["n_reference"],
                "share_of_flags": share_of_flags,
                "rest_share": rest_share,
            }
            if best is None or share_of_flags > best["share_of_flags"]:
                best = found
    return best


def small_reference_note(detector: Any) -> str | None:
    """A caveat when the detector's reference is too small for fine evidence, else None.

    Reads the detector's ``small_reference_``, ``calibration_size_``, ``calibration_groups_``
    and ``min_pvalue_`` (detectors saved before these existed are treated as large).
    """
    if not getattr(detector, "small_reference_", False):
        return None
    return (
        f"The reference is small ({detector.calibration_size_} calibration images from "
        f"{detector.calibration_groups_} patient group(s)): no p-value goes below "
        f"{detector.min_pvalue_:.2g}, and clean images of a new patient can look as atypical as "
        "a real shift, so flags are provisional; a reference of at least 50 images from 5 or "
        "more patients gives firmer evidence."
    )


def next_steps(
    verdict: Verdict,
    n_flagged: int,
    n_target: int,
    n_borderline: int,
    groups: dict[str, list[dict[str, Any]]],
    alpha: float,
    caveat: str | None = None,
) -> str:
    """What the verdict implies, in a few factual sentences built from the numbers.

    ``caveat`` (e.g. :func:`small_reference_note`) comes first.
    """
    sentences = [] if caveat is None else [caveat]
    share = n_flagged / n_target if n_target else 0.0
    if n_flagged == 0:
        sentences.append(
            f"No target image is flagged at {_percent(alpha)} false-discovery rate; "
            f"the {n_borderline} images nearest the threshold are shown below for a spot check."
        )
    elif verdict.flagged_level == 2:
        sentences.append(
            f"{format_share(share)} of the target is flagged: treat it as a new domain "
            "(re-validate the model on it, or add labelled data from it) rather than reviewing "
            "images one by one; the most-OOD cases below show what differs."
        )
    else:
        sentences.append(
            f"Review the {n_flagged} flagged image{'s' if n_flagged != 1 else ''} (the "
            f"{n_borderline} nearest the threshold are in the borderline gallery below) and "
            "exclude or relabel those that are truly outside the model's domain."
        )
    if verdict.distance_level > 0 and verdict.flagged_level == 0:
        sentences.append(
            "The dataset as a whole differs from the reference while few single images stand "
            "out: a global shift (scanner settings, preprocessing, population) rather than a few "
            "outliers; compare the groups below."
        )
    group = concentrated_group(groups, n_flagged, n_target)
    if group is not None:
        where = f"{group['column']} = {group['value']}"
        text = (
            f"Flagged images concentrate in {where}: {group['n_flagged']} of the {n_flagged} "
            f"flagged ({format_share(group['n_flagged'] / group['n'])} of that group, "
            f"{format_share(group['rest_share'])} elsewhere)"
        )
        if group["n_reference"] == 0:
            text += f"; the reference has no image with {where}, so it does not cover it"
        sentences.append(text + " - check that group's protocol, scanner or preprocessing.")
    return " ".join(sentences)
