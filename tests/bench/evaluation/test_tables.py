import numpy as np
import pandas as pd
import pytest

from fmood_bench.evaluation.tables import (
    artifact_rows,
    calibration_table,
    detection_table,
    failure_table,
    group_summary,
    severity_curves,
    severity_table,
)


@pytest.fixture
def manifest():
    """4 clean slices (2 patients); noise on slices 0 and 2 at severities 1-2; 3 CT images."""
    rows = [
        ("id", "p1", 10, None),
        ("id", "p1", 20, None),
        ("id", "p2", 10, None),
        ("id", "p2", 30, None),
    ]
    rows += [("artifact-noise", p, z, s) for p, z in (("p1", 10), ("p2", 10)) for s in (1, 2)]
    rows += [("ct", "c", None, None)] * 3
    return pd.DataFrame(rows, columns=["shift", "patient", "source_frame", "severity"])


def test_detection_metrics_per_set_and_group(manifest):
    perfect = np.array([0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12], float)
    reversed_ = -perfect
    table = detection_table(
        {"good": perfect, "bad": reversed_},
        manifest["shift"],
        {"artifact-noise": "near", "ct": "far", "missing": "far"},
    )
    assert len(table) == 4  # 2 methods x 2 sets present
    good = table[table["method"] == "good"].set_index("set")
    assert good.loc["ct", "auroc"] == 1.0 and good.loc["ct", "fpr95"] == 0.0
    assert good.loc["artifact-noise", "auroc"] == 1.0 and good.loc["ct", "n"] == 3
    bad = table[table["method"] == "bad"].set_index("set")
    assert bad.loc["ct", "auroc"] == 0.0 and bad.loc["ct", "fpr95"] == 1.0
    summary = group_summary(table)
    assert summary["method"].tolist() == ["good", "bad"]
    assert list(summary.columns) == ["method", "near_auroc", "far_auroc", "near_fpr95", "far_fpr95"]


def test_artifacts_pool_with_their_own_clean_slices(manifest):
    rows = artifact_rows(manifest)
    assert list(rows) == ["noise"]
    assert rows["noise"].tolist() == [0, 2, 4, 5, 6, 7]  # slices p1/10 and p2/10, not 1 or 3


def test_severity_spearman_and_curves(manifest):
    rising = np.array([0, 9, 0, 9, 1, 2, 1, 2, 5, 5, 5], float)
    table = severity_table({"rising": rising, "flat": np.zeros(11)}, manifest)
    assert table.loc["rising", "noise"] == pytest.approx(1.0)
    assert table.loc["rising", "mean"] == pytest.approx(1.0) and np.isnan(
        table.loc["flat", "noise"]
    )
    curves = severity_curves({"rising": rising}, manifest)
    medians = curves.set_index("severity")["median_id_percentile"]
    assert medians[0.0] == 0.0 and medians[1.0] == 0.5 and medians[2.0] == 0.5


def test_calibration_pools_splits_and_reports_the_gap():
    p = [np.linspace(0.005, 1, 200), np.linspace(0.005, 1, 200)]
    table = calibration_table(p, [0.05, 0.1]).set_index("alpha")
    assert table.loc[0.05, "observed"] == pytest.approx(0.05)
    assert table.loc[0.1, "gap_points"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc[0.05, "split_sd"] == 0.0 and table.loc[0.05, "split_max"] == pytest.approx(
        0.05
    )
    uneven = calibration_table([np.full(10, 0.01), np.full(10, 0.9)], [0.05]).iloc[0]
    assert uneven["observed"] == 0.5 and uneven["split_min"] == 0 and uneven["split_max"] == 1
    assert table.loc[0.05, "n_images"] == 400 and table.loc[0.05, "n_splits"] == 2


def test_failure_table_ranks_the_uncertainty_that_finds_errors_first():
    errors = np.array([0, 0, 0, 1, 1], bool)
    table = failure_table({"knows": np.arange(5.0), "guesses": -np.arange(5.0)}, errors)
    assert table["method"].tolist() == ["knows", "guesses"]
    assert table.attrs["error_rate"] == pytest.approx(0.4)
