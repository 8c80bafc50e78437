from __future__ import annotations

import json
import re

import numpy as np
import pytest

from fmood.calibration.detector import OODDetector
from fmood.cli.choices import DEFAULT_SCORER_NAMES
from fmood.cli.fit import parse_scorers, parse_value
from fmood.errors import InvalidInputError


def test_fit_saves_a_detector_and_summarises_it(cli, data, tmp_path):
    out = tmp_path / "det"
    result = cli(
        "fit",
        data["reference"],
        "--out",
        out,
        "--calibration",
        "split",
        "--calibration-fraction",
        0.4,
    )
    assert result.code == 0, result.err
    detector = OODDetector.load(out)
    assert detector.n_features_in_ == 16 and detector.calibration_scores_.shape[0] == 120
    assert "300 reference embeddings (16-d)" in result.out
    assert "fitted on 180, calibrated on 120" in result.out
    assert f"scorers {', '.join(DEFAULT_SCORER_NAMES)} fitted" in result.out
    assert "No domains" in result.out


def test_fit_cross_fits_by_default_and_says_so(cli, data, tmp_path):
    out = tmp_path / "det"
    result = cli("fit", data["reference"], "--out", out, "--folds", 4)
    assert result.code == 0, result.err
    detector = OODDetector.load(out)
    assert detector.calibration == "cross" and len(detector.models_) == 4
    assert detector.calibration_scores_.shape[0] == 300  # every image calibrates
    assert "cross-fitted in 4 folds cut at random (cross; every image fits" in result.out


def test_scorer_parameters_reach_the_saved_detector(cli, data, tmp_path):
    out = tmp_path / "det"
    spec = "knn:k=10:aggregate=mean,mahalanobis:shrinkage=oas"
    assert cli("fit", data["reference"], "--out", out, "--scorers", spec).code == 0
    scorers = json.loads((out / "detector.json").read_text())["scorers"]
    assert [s["name"] for s in scorers] == ["knn", "mahalanobis"]
    assert scorers[0]["params"]["k"] == 10 and scorers[0]["params"]["aggregate"] == "mean"
    assert scorers[1]["params"]["shrinkage"] == "oas"


def test_parse_scorers_and_values():
    assert parse_scorers("knn, mahalanobis:shrinkage=none") == [
        "knn",
        ("mahalanobis", {"shrinkage": None}),
    ]
    assert [parse_value(v) for v in ("10", "0.5", "true", "False", "null", "oas")] == [
        10,
        0.5,
        True,
        False,
        None,
        "oas",
    ]
    with pytest.raises(InvalidInputError, match="expected key=value after 'knn'"):
        parse_scorers("knn:k")


def test_store_metadata_columns_give_groups_and_domains(cli, store_dir, tmp_path):
    out = tmp_path / "det"
    result = cli(
        "fit", store_dir, "--out", out, "--groups-column", "patient", "--domains-column", "site"
    )
    assert result.code == 0, result.err
    assert "folds cut by whole groups" in result.out and "2 domains (A, B)" in result.out
    assert json.loads((out / "detector.json").read_text())["domains"] == ["A", "B"]


def test_per_sample_files_for_a_npy_reference(cli, data, tmp_path):
    sites = np.where(np.arange(300) % 3 == 0, "north", "south")
    np.save(tmp_path / "sites.npy", sites)
    result = cli(
        "fit", data["reference"], "--out", tmp_path / "det", "--domains", tmp_path / "sites.npy"
    )
    assert result.code == 0, result.err
    assert "2 domains (north, south)" in result.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--scorers", "knn,isolation_forest"],
            r"unknown scorer 'isolation_forest'; available: .*knn.*mahalanobis",
        ),
        (
            ["--scorers", "knn:kk=3"],
            r"scorer 'knn' has no parameter 'kk'; its parameters: aggregate, batch_size, ",
        ),
        (["--groups-column", "patient"], "needs a feature store"),
        (["--calibration-fraction", "1.5"], r"calibration_fraction must be in \(0, 1\)"),
    ],
)
def test_bad_options_are_user_errors(cli, data, tmp_path, args, message):
    result = cli("fit", data["reference"], "--out", tmp_path / "det", *args)
    assert result.code == 2
    assert result.err.startswith("fmood: error: ")
    assert re.search(message, result.err), result.err
    assert not (tmp_path / "det").exists()


def test_unknown_metadata_column_names_it_and_the_available_ones(cli, store_dir, tmp_path):
    result = cli("fit", store_dir, "--out", tmp_path / "det", "--domains-column", "hospital")
    assert result.code == 2
    assert (
        "no metadata column 'hospital' (--domains-column); available: path, site, patient"
        in result.err
    )


def test_unwritable_out_fails_before_fitting(cli, data, tmp_path):
    (tmp_path / "file").write_text("x")
    result = cli("fit", data["reference"], "--out", tmp_path / "file" / "det")
    assert result.code == 2
    assert "fitting" not in result.err
    assert f"cannot write --out {tmp_path / 'file' / 'det'}" in result.err
