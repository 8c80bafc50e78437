"""Calibration-part p-values, scorer agreement and the 2-D map, against direct computations."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from synthetic import clustered

from fmood.calibration.combine import benjamini_hochberg
from fmood.calibration.detector import OODDetector
from fmood.report.analysis import (
    bh_threshold,
    borderline_band,
    calibration_pvalues,
    distinct_most_ood,
    embedding_map,
    scorer_agreement,
)


def test_calibration_pvalues_of_one_scorer_are_its_leave_one_out_ranks(reference):
    detector = OODDetector(scorers=["mahalanobis"]).fit(reference)
    scores = detector.calibration_scores_[:, 0]
    n = scores.size
    brute = np.array([(1 + np.sum(np.delete(scores, i) >= s)) / n for i, s in enumerate(scores)])
    np.testing.assert_allclose(calibration_pvalues(detector), brute)


def test_calibration_pvalues_are_about_uniform_and_match_fresh_in_distribution_data(
    reference, in_dist
):
    detector = OODDetector().fit(reference)
    p = calibration_pvalues(detector)
    assert p.shape == (detector.calibration_scores_.shape[0],)
    assert ((p > 0) & (p <= 1)).all()
    assert abs(np.median(p) - 0.5) < 0.1
    fresh = detector.assess(in_dist)["p_combined"].to_numpy()
    assert abs(np.median(fresh) - np.median(p)) < 0.15


def test_scorer_agreement_matches_scipy(reference, shifted, in_dist):
    X = np.concatenate([in_dist, shifted])
    detector = OODDetector(scorers=["mahalanobis", "residual", "knn"]).fit(reference)
    table = detector.assess(X)
    agreement = scorer_agreement(table, detector.scorer_names_, alpha=0.05, n_top=10)
    rho = spearmanr(table[["mahalanobis", "residual", "knn"]].to_numpy()).statistic
    for i, a in enumerate(["mahalanobis", "residual", "knn"]):
        for j, b in enumerate(["mahalanobis", "residual", "knn"]):
            assert agreement["spearman"][a][b] == pytest.approx(rho[i, j])
    record = agreement["scorers"][0]
    assert record["spearman_with_combined"] == pytest.approx(
        spearmanr(table["mahalanobis"], table["surprise"]).statistic
    )
    assert 0 <= record["top_overlap"] <= 10 and record["n_top"] == 10
    assert 0 < record["flagged_share_alone"] <= 1


def test_a_constant_score_has_no_correlation():
    table = pd.DataFrame(
        {
            "a": [1.0, 1.0, 1.0],
            "b": [1.0, 2.0, 3.0],
            "p_a": [1.0] * 3,
            "p_b": [0.5, 0.3, 0.1],
            "surprise": [0.1, 0.2, 0.3],
            "flagged": [False] * 3,
        }
    )
    agreement = scorer_agreement(table, ["a", "b"], 0.05, 2)
    assert agreement["spearman"]["a"]["b"] is None and agreement["spearman"]["b"]["b"] == 1.0
    assert agreement["scorers"][0]["share_of_combined_flags"] is None


def test_bh_threshold_is_the_cut_off_behind_the_flags():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=80), rng.uniform(0, 1e-3, size=20)])
    threshold = bh_threshold(p, 0.05)
    assert np.array_equal(p <= threshold, benjamini_hochberg(p, 0.05))
    assert bh_threshold(np.array([0.5, 0.9, 0.2, 0.7]), 0.05) == pytest.approx(0.05 / 4)


def test_borderline_band_takes_the_images_nearest_the_threshold_on_each_side():
    p = np.array([1e-9, 0.004, 0.3, 0.04, 0.002, 0.8, 0.06, 1e-5])
    flagged = benjamini_hochberg(p, 0.05)
    band = borderline_band(p, flagged, 0.05, 2)
    assert band.threshold == pytest.approx(bh_threshold(p, 0.05))
    assert band.flagged.tolist() == [1, 4]  # flagged, largest p first
    assert flagged[band.flagged].all() and not flagged[band.not_flagged].any()
    assert band.not_flagged.tolist() == [3, 6]  # not flagged, smallest p first
    nothing = borderline_band(np.array([0.5, 0.2, 0.9]), np.zeros(3, bool), 0.05, 4)
    assert nothing.flagged.size == 0 and nothing.not_flagged.tolist() == [1, 0, 2]


def _distinct_inputs(rng):
    """Nine crops of one picture (near each other, far from the reference) and three other
    far images in different directions; a reference around the origin."""
    d = 8
    crops = 40.0 * np.eye(d)[0] + rng.normal(scale=1.0, size=(9, d))
    others = np.array([35.0 * np.eye(d)[1], 30.0 * np.eye(d)[2], 25.0 * np.eye(d)[3]])
    X = np.concatenate([crops, others, rng.normal(size=(20, d))])
    surprise = np.concatenate([np.linspace(20, 12, 9), [11.0, 10.0, 9.0], np.linspace(1, 0.1, 20)])
    table = pd.DataFrame({"surprise": surprise, "flagged": surprise > 5})
    nearest_reference = np.linalg.norm(X, axis=1)  # the reference sits at the origin
    return table, X, nearest_reference


def test_distinct_most_ood_shows_one_case_per_cluster_and_counts_the_rest():
    table, X, nearest_reference = _distinct_inputs(np.random.default_rng(0))
    distinct = distinct_most_ood(table, X, nearest_reference, 12)
    assert distinct.rows.tolist() == [0, 9, 10, 11]  # one crop, then the three others
    assert distinct.n_similar.tolist() == [8, 0, 0, 0]  # similar flagged images only
    assert distinct_most_ood(table, X, nearest_reference, 2).rows.tolist() == [0, 9]


def test_distinct_most_ood_collapses_frames_of_one_file_and_ranks_all_when_none_flagged():
    table, X, nearest_reference = _distinct_inputs(np.random.default_rng(1))
    keys = pd.Series(["a.nii"] * 9 + ["b.nii", "b.nii", "c.png"] + [None] * 20)
    distinct = distinct_most_ood(table, X, nearest_reference, 12, keys=keys)
    assert distinct.rows.tolist() == [0, 9, 11]
    table["flagged"] = False
    everything = distinct_most_ood(table, X, nearest_reference, 12)
    assert everything.rows[:4].tolist() == [0, 9, 10, 11] and everything.rows.size == 12


def test_the_map_is_a_seeded_pca_of_both_sets():
    A, B = clustered(300, seed=0), clustered(200, shift=30.0, seed=1)
    first, second = embedding_map(A, B, seed=3), embedding_map(A, B, seed=3)
    assert first.method == "PCA" and first.reference.shape == (300, 2)
    assert first.target.shape == (200, 2) and first.target_rows.tolist() == list(range(200))
    np.testing.assert_array_equal(first.target, second.target)
    # The shift dominates the pooled variance, so the first component separates the sets.
    assert abs(first.reference[:, 0].mean() - first.target[:, 0].mean()) > 20


def test_large_sets_are_subsampled_for_the_map(monkeypatch):
    monkeypatch.setattr("fmood.report.analysis.MAP_MAX_POINTS", 50)
    mapped = embedding_map(clustered(120, seed=0), clustered(80, seed=1), seed=0)
    assert mapped.reference.shape == (50, 2) and mapped.target.shape == (50, 2)
    assert np.all(np.diff(mapped.target_rows) > 0) and mapped.target_rows.max() < 80


def test_umap_is_used_when_importable(monkeypatch):
    class FakeUMAP:
        def __init__(self, n_components, random_state):
            self.random_state = random_state

        def fit_transform(self, X):
            return X[:, :2] * 2

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    mapped = embedding_map(clustered(40, seed=0), clustered(30, seed=1), seed=0)
    assert mapped.method == "UMAP" and "UMAP" in mapped.note
    assert mapped.reference.shape == (40, 2) and mapped.target.shape == (30, 2)
