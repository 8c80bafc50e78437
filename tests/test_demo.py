import json

import pandas as pd

from fmood.demo import run_demo
from fmood.store import FeatureStore


def test_demo_writes_its_outputs_and_finds_the_shifts(tmp_path):
    summary = run_demo(tmp_path / "out", progress=False)
    out = tmp_path / "out"
    assert json.loads((out / "summary.json").read_text()) == summary
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == summary["n_target"] and {"path", "degree", "flagged"} <= set(scores.columns)
    assert (out / "degrees.png").read_bytes()[:4] == b"\x89PNG"
    assert len(FeatureStore.open(out / "reference_store")) == summary["n_reference"]
    by_shift = summary["by_shift"]
    assert by_shift["none"]["flagged_share"] <= 0.1
    assert by_shift["other-modality"]["flagged_share"] >= 0.9
    assert summary["artifact_spearman_degree_vs_severity"] > 0.8
    # Running again replaces the earlier demo instead of failing or appending.
    assert run_demo(out, progress=False)["n_reference"] == summary["n_reference"]
