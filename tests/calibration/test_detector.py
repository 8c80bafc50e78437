import json

import numpy as np
import pandas as pd
import pytest
from synthetic import clustered

from fmood.calibration.detector import OODDetector
from fmood.errors import InvalidInputError, NotFittedError, StoreCorruptError, StoreVersionError
from fmood.scorers import KNNScorer, get_scorer

SCORERS = [("knn", {"k": 5}), "mahalanobis"]


@pytest.fixture(scope="module")
def detector():
    return OODDetector(scorers=SCORERS).fit(clustered(2000, seed=10))


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.2])
def test_in_distribution_flag_rate_is_nominal(detector, alpha):
    fresh = clustered(4000, seed=11)
    p = detector.pvalues(fresh)
    n_cal = detector.calibration_scores_.shape[0]
    # Conditional on one calibration set the rate is Beta-distributed around alpha.
    slack = 3 * np.sqrt(alpha * (1 - alpha)) * (1 / np.sqrt(n_cal) + 1 / np.sqrt(len(fresh)))
    for column in p.columns:
        assert abs(np.mean(p[column] <= alpha) - alpha) <= slack, column


def test_degree_grows_with_shift(detector):
    medians = [np.median(detector.degree(clustered(300, shift=s, seed=12))) for s in (0, 1, 2, 4)]
    assert medians == sorted(medians) and medians[0] < 0.7 and medians[-1] > 0.99


def test_degree_keeps_ranking_far_beyond_the_calibration_range(detector):
    shifts = (20, 30, 40, 80, 500, 5000)
    table = detector.assess(np.r_[[clustered(50, shift=s, seed=13)[0] for s in shifts]])
    # Far past where p underflows to 0.0, the surprise (-log10 p) still orders the images.
    assert table["surprise"].is_monotonic_increasing and table["surprise"].nunique() == len(shifts)
    assert table["surprise"].iloc[-1] > 300
    assert (table["degree"] > 0.999).all()


def test_assess_columns_and_flags(detector):
    table = detector.assess(np.r_[clustered(100, seed=14), clustered(20, shift=8, seed=15)])
    assert list(table.columns) == [
        "knn",
        "mahalanobis",
        "p_knn",
        "p_mahalanobis",
        "p_combined",
        "degree",
        "surprise",
        "flagged",
    ]
    assert table["flagged"][100:].all() and table["flagged"][:100].mean() <= 0.05
    np.testing.assert_array_equal(detector.flag(clustered(20, shift=8, seed=15)), True)
    assert isinstance(detector.score(clustered(3, seed=1)), pd.DataFrame)


def test_domain_conditional_calibration_absorbs_site_differences():
    # Site B is three times as spread out, so its images sit further from their neighbours:
    # pooled calibration flags it too often, per-site calibration at the nominal rate.
    def site_b(n, seed):
        X = clustered(n, seed=seed) * 3.0
        X[:, 1] += 100.0
        return X

    X = np.r_[clustered(900, seed=20), site_b(900, 21)]
    sites = np.repeat(["A", "B"], 900)
    scorers = [("knn", {"k": 5, "normalize": False})]
    pooled = OODDetector(scorers=scorers).fit(X)
    conditional = OODDetector(scorers=scorers).fit(X, domains=sites)
    fresh_b = site_b(1000, 22)
    table = conditional.assess(fresh_b)
    assert (table["domain"] == "B").all() and (table["domain_calibration"] == "own").all()
    assert conditional.domain_calibration_ == {"A": "own", "B": "own"}
    assert abs(np.mean(table["p_combined"] <= 0.1) - 0.1) < 0.04
    assert np.mean(pooled.pvalues(fresh_b)["p_combined"] <= 0.1) > 0.15


def test_groups_are_kept_together():
    X = clustered(300, seed=30)
    groups = np.repeat(np.arange(30), 10)
    detector = OODDetector(scorers=SCORERS, calibration="split").fit(X, groups=groups)
    assert detector.calibration_scores_.shape[0] % 10 == 0


def test_cross_conformal_fits_and_calibrates_on_every_reference_image():
    X = clustered(300, seed=31)
    groups = np.repeat(np.arange(30), 10)
    detector = OODDetector(scorers=["mahalanobis"], n_folds=5).fit(X, groups=groups)
    folds = detector.calibration_folds_
    assert detector.calibration_scores_.shape == (300, 1) and len(detector.models_) == 5
    assert all(np.unique(folds[groups == g]).size == 1 for g in range(30))
    Q = clustered(20, shift=1, seed=32)
    by_model = []
    for k, (model,) in enumerate(detector.models_):
        # Model k never saw fold k, and fold k's calibration scores are model k's.
        own = get_scorer("mahalanobis").fit(X[folds != k])
        np.testing.assert_allclose(model.score(Q), own.score(Q), rtol=1e-6)
        np.testing.assert_allclose(
            detector.calibration_scores_[folds == k, 0], own.score(X[folds == k]), rtol=1e-6
        )
        by_model.append(own.score(Q))
    np.testing.assert_allclose(
        detector.score(Q)["mahalanobis"], np.mean(by_model, axis=0), rtol=1e-6
    )
    split = OODDetector(scorers=["mahalanobis"], calibration="split").fit(X, groups=groups)
    assert len(split.models_) == 1 and split.calibration_scores_.shape[0] < 300


def test_cross_conformal_keeps_ranking_at_least_as_well_as_split():
    """Every reference image fits: the degree separates a subtle shift better than split."""
    X = clustered(240, d=48, seed=33)
    groups = np.repeat(np.arange(24), 10)
    Q_in, Q_out = clustered(200, d=48, seed=34), clustered(200, d=48, shift=1.0, seed=35)
    auroc = {}
    for calibration in ("split", "cross"):
        detector = OODDetector(calibration=calibration).fit(X, groups=groups)
        s_in, s_out = detector.assess(Q_in)["surprise"], detector.assess(Q_out)["surprise"]
        auroc[calibration] = np.mean(s_out.to_numpy()[:, None] > s_in.to_numpy()[None, :])
    assert auroc["cross"] >= auroc["split"]


def test_refit_scores_with_scorers_fitted_on_the_whole_reference(tmp_path):
    X = clustered(300, seed=45)
    groups = np.repeat(np.arange(30), 10)
    split = OODDetector(scorers=["mahalanobis"]).fit(X, groups=groups)
    refit = OODDetector(scorers=["mahalanobis"], refit=True).fit(X, groups=groups)
    np.testing.assert_array_equal(refit.calibration_scores_, split.calibration_scores_)
    Q = clustered(20, shift=1, seed=46)
    whole = get_scorer("mahalanobis").fit(X).score(Q)
    np.testing.assert_allclose(refit.score(Q)["mahalanobis"], whole, rtol=1e-6)
    assert not np.allclose(split.score(Q)["mahalanobis"], whole, rtol=1e-3)
    refit.save(tmp_path / "refit")
    loaded = OODDetector.load(tmp_path / "refit")
    assert loaded.refit is True
    pd.testing.assert_frame_equal(loaded.assess(Q), refit.assess(Q))


@pytest.mark.parametrize(
    "params",
    [
        {"calibration": "split"},
        {"calibration": "cross", "refit": True},
        {"calibration": "cv+"},
        {"calibration": "cv+", "refit": True},
    ],
)
def test_save_and_load_every_calibration(tmp_path, params):
    X = clustered(200, seed=47)
    detector = OODDetector(scorers=SCORERS, **params).fit(X, groups=np.repeat(np.arange(20), 10))
    detector.save(tmp_path / "d")
    loaded = OODDetector.load(tmp_path / "d")
    assert loaded.calibration == params["calibration"] and len(loaded.models_) == len(
        detector.models_
    )
    Q = np.r_[clustered(30, seed=48), clustered(5, shift=6, seed=49)]
    pd.testing.assert_frame_equal(loaded.assess(Q), detector.assess(Q))


def test_save_and_load_round_trip(tmp_path, detector):
    X = np.r_[clustered(50, seed=40), clustered(10, shift=5, seed=41)]
    detector.save(tmp_path / "det")
    loaded = OODDetector.load(tmp_path / "det")
    pd.testing.assert_frame_equal(loaded.assess(X), detector.assess(X))
    with np.load(tmp_path / "det" / "arrays.npz", allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)


def test_save_and_load_every_scorer_with_domains(tmp_path):
    X = clustered(400, seed=42)
    scorers = ["gmm", ("knn", {"k": 3}), "mahalanobis", "ot", "relative_mahalanobis", "residual"]
    detector = OODDetector(scorers=scorers, n_folds=2, min_domain_calibration=10).fit(
        X, domains=np.tile(["s1", "s2"], 200)
    )
    detector.save(tmp_path / "d")
    Q = clustered(30, shift=2, seed=43)
    pd.testing.assert_frame_equal(OODDetector.load(tmp_path / "d").assess(Q), detector.assess(Q))


def test_save_replaces_a_detector_whole_and_refuses_other_directories(
    tmp_path, detector, monkeypatch
):
    target = tmp_path / "det"
    detector.save(target)
    before = (target / "arrays.npz").read_bytes()
    other = OODDetector(scorers=["mahalanobis"]).fit(clustered(200, seed=44))

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("fmood.calibration.detector._savez", crash)
    with pytest.raises(OSError):
        other.save(target)
    assert (target / "arrays.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det"]  # no staging left behind
    monkeypatch.undo()
    other.save(target)
    assert OODDetector.load(target).scorer_names_ == ["mahalanobis"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not a saved OODDetector"):
        detector.save(tmp_path / "notes")


def test_load_errors(tmp_path, detector):
    with pytest.raises(StoreCorruptError, match="missing"):
        OODDetector.load(tmp_path)
    detector.save(tmp_path / "d")
    config = json.loads((tmp_path / "d" / "detector.json").read_text())
    config["format_version"] = 99
    (tmp_path / "d" / "detector.json").write_text(json.dumps(config))
    with pytest.raises(StoreVersionError, match="upgrade fmood"):
        OODDetector.load(tmp_path / "d")
    (tmp_path / "d" / "detector.json").write_text("{not json")
    with pytest.raises(StoreCorruptError):
        OODDetector.load(tmp_path / "d")


def test_default_detector_works_out_of_the_box():
    detector = OODDetector().fit(clustered(600, seed=50))
    assert detector.degree(clustered(5, shift=10, seed=51)).min() > 0.99


def test_scorer_instances_are_cloned():
    knn = KNNScorer(k=4)
    detector = OODDetector(scorers=[knn]).fit(clustered(100, seed=52))
    assert detector.models_[0][0] is not knn and not hasattr(knn, "reference_")


def test_bad_input(detector):
    with pytest.raises(NotFittedError):
        OODDetector().degree(np.zeros((2, 16)))
    with pytest.raises(InvalidInputError, match="expected 16"):
        detector.degree(np.zeros((2, 8)))
    with pytest.raises(InvalidInputError, match="too small"):
        OODDetector(scorers=SCORERS, calibration="split").fit(clustered(12))
    with pytest.raises(InvalidInputError, match="too small"):
        OODDetector(scorers=SCORERS).fit(clustered(8))
    with pytest.raises(InvalidInputError, match="calibration must be one of"):
        OODDetector(calibration="jackknife").fit(clustered(100))
    with pytest.raises(InvalidInputError, match="n_folds"):
        OODDetector(n_folds=1).fit(clustered(100))
    with pytest.raises(InvalidInputError, match="calibration_fraction"):
        OODDetector(calibration_fraction=1.5).fit(clustered(100))
    with pytest.raises(InvalidInputError, match="at least 2"):
        OODDetector().fit(np.zeros((1, 16)))
    with pytest.raises(InvalidInputError, match="one entry per sample"):
        OODDetector(scorers=SCORERS).fit(clustered(100), domains=["a"])
    with pytest.raises(InvalidInputError, match="scorer"):
        OODDetector(scorers=[42]).fit(clustered(100))
    bad = clustered(100)
    bad[5] = np.inf
    with pytest.raises(InvalidInputError, match="row"):
        OODDetector(scorers=SCORERS).fit(bad)
