"""End to end: reports on a shifted and an in-distribution target."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from report.helpers import DIM, FINGERPRINT, N_TARGET, ODD_COLUMN, QUICK, make_store
from synthetic import clustered

from fmood.calibration.detector import OODDetector
from fmood.errors import InvalidInputError, StoreMismatchError
from fmood.report import STATUSES, build_report
from fmood.report import outputs as report_outputs
from fmood.report.verdict import FLAGGED_THRESHOLDS
from fmood.store import FeatureStore, Fingerprint


def _summary(report) -> dict:
    return json.loads(report.summary_path.read_text())


def test_shifted_target_is_called_shifted_with_most_images_flagged(shifted_report):
    assert shifted_report.status in ("shifted", "strongly shifted")
    assert shifted_report.flagged_share > 0.8
    assert shifted_report.distance_ratio > 10
    assert "farther from the reference than the reference is from itself" in shifted_report.verdict
    summary = _summary(shifted_report)
    assert summary["status"] == shifted_report.status == "strongly shifted"
    assert summary["verdict"] == shifted_report.verdict
    assert summary["n_target"] == N_TARGET and summary["n_flagged"] > 0.8 * N_TARGET
    assert sorted(summary["most_ood_target_ids"][:3]) == [0, 1, 2]


def test_the_report_shows_the_borderline_band_and_distinct_most_ood_cases(shifted_report):
    summary = _summary(shifted_report)
    scores = pd.read_csv(shifted_report.scores_path)
    band = summary["borderline_target_ids"]
    assert len(band["flagged"]) == 4
    assert len(band["not_flagged"]) == min(4, int((~scores["flagged"]).sum()))
    assert scores.loc[band["flagged"], "flagged"].all()
    assert not scores.loc[band["not_flagged"], "flagged"].any()
    threshold = summary["bh_threshold"]
    assert (scores.loc[band["flagged"], "p_combined"] <= threshold).all()
    # The just-flagged are the flagged images with the largest p-values.
    largest = scores.loc[scores["flagged"], "p_combined"].nlargest(4)
    assert set(band["flagged"]) == set(largest.index)
    shown, similar = summary["most_ood_target_ids"], summary["most_ood_similar_counts"]
    assert len(shown) == len(similar) <= 12 and len(set(shown)) == len(shown)
    text = shifted_report.html_path.read_text()
    n_band = len(band["flagged"]) + len(band["not_flagged"])
    assert "What to do next." in text
    assert text.count('<div class="case">') == len(shown) + n_band


def test_in_distribution_target_is_called_in_distribution(in_dist_report):
    assert in_dist_report.status == "in-distribution"
    # Below the flagged-share threshold of "shifted"; the exact rate is the detector's business.
    assert in_dist_report.flagged_share < FLAGGED_THRESHOLDS[0]
    assert "no farther from the reference" in in_dist_report.verdict
    summary = _summary(in_dist_report)
    assert summary["distance_level"] == summary["flagged_level"] == 0


def test_summary_holds_the_numbers_behind_the_verdict_as_strict_json(shifted_report):
    def refuse(constant):
        raise AssertionError(f"non-strict JSON constant {constant}")

    summary = json.loads(shifted_report.summary_path.read_text(), parse_constant=refuse)
    assert summary["format"] == "fmood.report"
    for key in (
        "n_reference",
        "n_target",
        "distance",
        "flagged_share",
        "alpha",
        "status",
        "groups",
        "backbone_fingerprint",
        "fmood_version",
        "timings_s",
        "parameters",
        "scorer_agreement",
        "status_rule",
    ):
        assert key in summary
    assert summary["backbone_fingerprint"]["name"] == "synthetic-backbone"
    distance = summary["distance"]
    assert distance["method"] == "mmd" and distance["ci_low"] <= distance["value"]
    assert distance["value"] <= distance["ci_high"]
    assert distance["ratio"] == pytest.approx(distance["value"] / distance["null_level"])
    site = {row["value"]: row for row in summary["groups"]["site"]}
    assert site["C"]["n_reference"] == 0 and site["A"]["n_reference"] > 0
    assert site["C"]["distance_ratio"] > 3
    # Not path, frame or patient.
    assert set(summary["groups"]) == {"site", "Manufacturer", ODD_COLUMN}


def test_scores_csv_has_one_row_per_target_image(shifted_report):
    scores = pd.read_csv(shifted_report.scores_path)
    assert len(scores) == N_TARGET
    assert list(scores.columns[:3]) == ["target_id", "path", "frame"]
    for column in (
        "patient",
        "site",
        "Manufacturer",
        "mahalanobis",
        "residual",
        "p_mahalanobis",
        "p_residual",
        "p_combined",
        "degree",
        "surprise",
        "flagged",
        "nearest_reference_ids",
        "nearest_reference_distances",
    ):
        assert column in scores.columns
    ids = scores["nearest_reference_ids"].str.split(";")
    distances = scores["nearest_reference_distances"].str.split(";")
    assert (ids.map(len) == 5).all() and (distances.map(len) == 5).all()
    first = np.array(distances[0], dtype=float)
    assert (np.diff(first) >= 0).all()
    assert scores["flagged"].mean() == pytest.approx(shifted_report.flagged_share)


def test_report_summary_says_where_the_report_is(shifted_report):
    text = str(shifted_report)
    assert str(shifted_report.html_path) in text and shifted_report.status in text
    assert shifted_report.status in STATUSES
    for path in (shifted_report.html_path, shifted_report.scores_path, shifted_report.summary_path):
        assert path.parent == shifted_report.out_dir and path.is_file()


def test_stores_of_different_backbones_are_refused_naming_both(tmp_path, reference_store):
    other = make_store(
        tmp_path,
        "other",
        clustered(30, d=DIM, seed=5),
        sites=("A",),
        fingerprint=Fingerprint("dinov2-base", None, "resize 224"),
    )
    with pytest.raises(StoreMismatchError) as err:
        build_report(reference_store, other, tmp_path / "out", **QUICK)
    assert "synthetic-backbone" in str(err.value) and "dinov2-base" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_a_saved_detector_is_used_and_one_of_another_dimension_refused(
    tmp_path, reference_store, in_dist_store
):
    detector = OODDetector(scorers=["knn"]).fit(np.asarray(reference_store.embeddings))
    detector.save(tmp_path / "detector")
    report = build_report(
        reference_store, in_dist_store, tmp_path / "out", detector=tmp_path / "detector", **QUICK
    )
    summary = _summary(report)
    assert summary["detector"]["scorers"] == ["knn"]
    assert summary["detector"]["source"].startswith("loaded from")
    with pytest.raises(InvalidInputError, match="domains_column applies only"):
        build_report(
            reference_store,
            in_dist_store,
            tmp_path / "out2",
            detector=detector,
            domains_column="site",
            **QUICK,
        )
    wrong = OODDetector().fit(clustered(200, d=DIM + 1))
    with pytest.raises(StoreMismatchError, match="17-d"):
        build_report(reference_store, in_dist_store, tmp_path / "out2", detector=wrong, **QUICK)


def test_same_seed_same_numbers_and_a_failed_rerun_leaves_the_report_intact(
    tmp_path, reference_store, shifted_store, shifted_report, monkeypatch
):
    again = build_report(reference_store, shifted_store, tmp_path / "again", **QUICK)
    assert again.scores_path.read_bytes() == shifted_report.scores_path.read_bytes()
    volatile = ("timings_s", "generated")
    a, b = _summary(shifted_report), _summary(again)
    assert {k: v for k, v in a.items() if k not in volatile} == {
        k: v for k, v in b.items() if k not in volatile
    }
    before = {p.name: p.read_bytes() for p in again.out_dir.iterdir()}

    def crash(path, html):
        raise RuntimeError("injected failure while writing report.html")

    monkeypatch.setattr(report_outputs, "_write_html", crash)
    with pytest.raises(RuntimeError, match="injected"):
        build_report(reference_store, shifted_store, again.out_dir, seed=1, **QUICK)
    assert {p.name: p.read_bytes() for p in again.out_dir.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["again"]  # no staging leftovers

    monkeypatch.undo()
    replaced = build_report(reference_store, shifted_store, again.out_dir, seed=1, **QUICK)
    assert _summary(replaced)["parameters"]["seed"] == 1
    assert sorted(p.name for p in again.out_dir.iterdir()) == [
        ".fmood-outputs.json",
        "report.html",
        "scores.csv",
        "summary.json",
    ]


def test_an_out_dir_that_is_not_a_report_is_never_replaced(
    tmp_path, reference_store, in_dist_store
):
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(InvalidInputError, match="holds files fmood did not write"):
        build_report(reference_store, in_dist_store, precious, **QUICK)
    assert (precious / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize(
    "bad",
    [
        {"alpha": 0.0},
        {"alpha": 1.5},
        {"k_neighbors": 0},
        {"n_top": -1},
        {"groups_column": "no_such_column"},
        {"domains_column": "no_such_column"},
        {"distance": "no_such_distance"},
    ],
)
def test_bad_parameters_are_refused_before_any_file_is_written(
    tmp_path, reference_store, in_dist_store, bad
):
    with pytest.raises(InvalidInputError):
        build_report(reference_store, in_dist_store, tmp_path / "out", **QUICK, **bad)
    assert not (tmp_path / "out").exists()


def test_domains_column_calibrates_per_site(tmp_path, reference_store, in_dist_store):
    report = build_report(
        reference_store, in_dist_store, tmp_path / "out", domains_column="site", **QUICK
    )
    summary = _summary(report)
    assert summary["detector"]["domains"] == ["A", "B"]
    assert set(pd.read_csv(report.scores_path)["domain"]) <= {"A", "B"}
    assert "calibrated per domain (A, B)" in report.html_path.read_text()


def test_a_tiny_target_without_files_still_gets_a_full_report(tmp_path, reference_store):
    store = FeatureStore.create(tmp_path / "tiny", DIM, FINGERPRINT)
    store.add(
        clustered(3, d=DIM, shift=6.0, seed=9), [{"frame": 0}, {"frame": None}, {"frame": 2}]
    )  # no paths at all
    report = build_report(
        reference_store, store, tmp_path / "out", n_top=50, k_neighbors=3, **QUICK
    )
    text = report.html_path.read_text()
    summary = _summary(report)
    band = summary["borderline_target_ids"]
    shown = summary["most_ood_target_ids"] + band["flagged"] + band["not_flagged"]
    assert set(shown) == {0, 1, 2}
    assert text.count('<div class="case">') == len(shown)
    assert text.count("image not shown: no file path stored for this image") == len(shown)
    scores = pd.read_csv(report.scores_path)
    assert len(scores) == 3 and scores["frame"].isna().tolist() == [False, True, False]
    assert (scores["nearest_reference_ids"].str.count(";") == 2).all()
    assert _summary(report)["groups"] == {}
