"""The status rule and the headline sentence."""

from __future__ import annotations

import math

import pytest

from fmood.distances import DistanceResult
from fmood.report.verdict import (
    distance_level,
    flagged_level,
    format_ratio,
    format_share,
    judge,
    next_steps,
    small_reference_note,
    status_rule,
)


def _result(value, null, p=0.001, method="mmd", ci=(None, None)):
    ratio = None if null is None else (value / null if null else math.inf)
    return DistanceResult(
        method, value, ci[0], ci[1], null, ratio, p, 100, 100, params={"confidence": 0.95}
    )


@pytest.mark.parametrize(
    ("value", "p", "level"),
    [
        (0.5, 0.001, 0),
        (2.9, 0.001, 0),
        (3.0, 0.001, 1),
        (9.9, 0.001, 1),
        (10.0, 0.001, 2),
        (50.0, 0.2, 0),
        (-1.0, 0.9, 0),
    ],
)
def test_distance_levels_follow_the_ratio_and_need_a_significant_test(value, p, level):
    assert distance_level(_result(value, 1.0, p), alpha=0.05) == level


def test_the_classifier_has_its_own_thresholds_and_no_test():
    assert distance_level(_result(0.55, 0.5, None, "classifier"), 0.05) == 0
    assert distance_level(_result(0.65, 0.5, None, "classifier"), 0.05) == 1
    assert distance_level(_result(0.85, 0.5, None, "classifier"), 0.05) == 2
    assert status_rule("classifier")["distance_ratio"]["shifted"] == 1.2


@pytest.mark.parametrize(
    ("share", "level"), [(0.0, 0), (0.099, 0), (0.1, 1), (0.49, 1), (0.5, 2), (1.0, 2)]
)
def test_flagged_levels(share, level):
    assert flagged_level(share) == level


def test_the_stronger_half_decides_and_the_sentence_gives_the_numbers():
    verdict = judge(_result(17.2, 1.0, ci=(15.0, 19.5)), 0.2, 20, 100, 0.05)
    assert verdict.status == "strongly shifted"
    assert verdict.sentence.startswith(
        "The target is 17x farther from the reference than the reference is from itself "
        "(MMD² 17.2, 95% CI 15 to 19.5, null level 1, permutation p = 0.001)"
    )
    assert verdict.sentence.endswith(
        "20% of target images (20 of 100) are flagged as out-of-distribution at 5% "
        "false-discovery rate."
    )
    quiet = judge(_result(0.3, 1.0, p=0.4), 0.0, 0, 100, 0.05)
    assert quiet.status == "in-distribution" and "no farther" in quiet.sentence
    flags_only = judge(_result(0.3, 1.0, p=0.4), 0.3, 30, 100, 0.05)
    assert flags_only.status == "shifted"


def test_degenerate_null_levels_still_give_a_sentence():
    assert "indistinguishable" in judge(_result(1.0, 0.0), 0.0, 0, 10, 0.05).sentence
    assert "no null level" in judge(_result(1.0, None), 0.0, 0, 10, 0.05).sentence


def test_formatting():
    assert [format_ratio(r) for r in (17.2, 2.34, None, math.inf, math.nan)] == [
        "17x",
        "2.3x",
        "–",
        "∞",
        "–",
    ]
    assert [format_share(s) for s in (0, 0.004, 0.5, 0.996, 1)] == [
        "0%",
        "<1%",
        "50%",
        ">99%",
        "100%",
    ]


def test_biased_distances_say_shifted_only_when_their_interval_clears_the_null_level():
    clear = _result(5.0, 1.0, p=None, method="frechet", ci=(2.0, 8.0))
    unclear = _result(5.0, 1.0, p=None, method="frechet", ci=(0.9, 8.0))
    assert distance_level(clear, 0.05) == 1 and distance_level(unclear, 0.05) == 0
    assert "distance_ratio" not in status_rule("sinkhorn")


def _record(value, n, n_flagged, n_reference=5):
    return {
        "value": value,
        "n": n,
        "n_flagged": n_flagged,
        "flagged_share": n_flagged / n,
        "n_reference": n_reference,
    }


def test_next_steps_point_at_the_group_the_flags_concentrate_in():
    groups = {
        "site": [_record("A", 80, 2), _record("C", 20, 14, n_reference=0)],
        "vendor": [_record("GE", 50, 8), _record("Siemens", 50, 8)],
    }
    verdict = judge(_result(0.01, 0.01), 0.16, 16, 100, 0.05)
    text = next_steps(verdict, 16, 100, 8, groups, 0.05)
    assert "Review the 16 flagged images" in text and "8 nearest the threshold" in text
    assert "site = C" in text and "14 of the 16 flagged" in text
    assert "70% of that group, 2% elsewhere" in text
    assert "reference has no image with site = C" in text
    assert "vendor" not in text  # spread evenly: no concentration


def test_next_steps_for_nothing_flagged_and_for_a_new_domain():
    quiet = judge(_result(0.01, 0.01), 0.0, 0, 100, 0.05)
    assert "No target image is flagged" in next_steps(quiet, 0, 100, 4, {}, 0.05)
    everywhere = judge(_result(0.5, 0.01), 0.9, 90, 100, 0.05)
    text = next_steps(everywhere, 90, 100, 8, {"site": [_record("A", 100, 90)]}, 0.05)
    assert "new domain" in text and "concentrate" not in text
    global_shift = judge(_result(0.5, 0.01), 0.02, 2, 100, 0.05)
    assert "global shift" in next_steps(global_shift, 2, 100, 8, {}, 0.05)


def test_a_small_reference_softens_a_flags_only_verdict_and_says_why():
    """Regression (issue 10): 48 slices of 2 subjects gave clean slices of a new subject
    p around 1e-41 and a STRONGLY SHIFTED verdict from flags alone."""
    import numpy as np

    from fmood.calibration.detector import OODDetector, SmallReferenceWarning

    rng = np.random.default_rng(0)
    subjects = [rng.normal(size=16) for _ in range(3)]
    X = np.vstack([s + 0.3 * rng.normal(size=(24, 16)) for s in subjects[:2]]).astype(np.float32)
    with pytest.warns(SmallReferenceWarning, match="only 48 images from 2 groups"):
        detector = OODDetector().fit(X, groups=np.repeat([0, 1], 24))
    note = small_reference_note(detector)
    assert note is not None and "48 calibration images from 2 patient group" in note
    flags_only = judge(_result(0.01, 0.01), 0.9, 90, 100, 0.05, small_reference=True)
    assert flags_only.status == "shifted"
    assert judge(_result(0.01, 0.01), 0.9, 90, 100, 0.05).status == "strongly shifted"
    assert next_steps(flags_only, 90, 100, 8, {}, 0.05, note).startswith("The reference is small")
    assert (
        small_reference_note(
            OODDetector().fit(rng.normal(size=(300, 4)), groups=np.arange(300) // 10)
        )
        is None
    )
