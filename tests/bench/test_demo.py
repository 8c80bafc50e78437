"""The demo end to end on its real data: the report shows what is known about each image."""

import json

import pandas as pd
import pytest

from fmood.utils.atomic import OUTPUTS_LEDGER
from fmood_bench.demo import run_demo

pytestmark = pytest.mark.slow  # real models or whole pipelines: make test-fast skips them


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out, device="cpu", progress=False)


def test_outputs(demo):
    out, evaluation = demo
    assert json.loads((out / "evaluation.json").read_text()) == evaluation
    assert {p.name for p in (out / "report").iterdir()} == {
        "report.html",
        "scores.csv",
        "summary.json",
        OUTPUTS_LEDGER,
    }
    assert (out / "severity.png").read_bytes()[:4] == b"\x89PNG"
    scores = pd.read_csv(out / "report" / "scores.csv")
    assert len(scores) == evaluation["n_target"]
    assert {"shift", "shift_group", "modality", "severity", "degree", "flagged"} <= set(scores)


def test_artifact_evidence_grows_with_severity(demo):
    spearman = demo[1]["spearman_evidence_vs_severity"]
    assert len(spearman) == 6
    for kind, rho in spearman.items():
        # Known miss: a smooth multiplicative bias field (gain 0.4-1.6 at the strongest
        # level) barely moves EfficientNet-Lite0's features (measured 0.38-0.51); the
        # closing note of issue 4 reports it.
        if kind != "bias-field":
            assert rho >= 0.8, (kind, rho)
    per_slice = demo[1]["spearman_per_source_slice"]
    assert all(rho >= 0.9 for kind, rho in per_slice.items() if kind != "bias-field"), per_slice


def test_other_modalities_are_flagged_and_in_distribution_slices_are_not(demo):
    evaluation = demo[1]
    for shift, row in evaluation["by_shift"].items():
        if row["group"] == "far":
            assert row["flagged_share"] >= 0.9, (shift, row)
    # About the nominal rate (5% FDR over the whole target: a little under, as BH is).
    assert evaluation["id_flagged_share"] <= 0.1


def test_rerun_reuses_data_and_embeddings(demo):
    out, evaluation = demo
    stores = sorted(p.name for p in (out / "embeddings").iterdir() if p.is_dir())
    again = run_demo(out, device="cpu", progress=False)
    assert sorted(p.name for p in (out / "embeddings").iterdir() if p.is_dir()) == stores
    assert again["id_flagged_share"] == evaluation["id_flagged_share"]
