"""The medical OOD benchmark runs end to end on its --quick data and writes every table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real models or whole pipelines: make test-fast skips them

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "medical_ood" / "run.py"


def test_quick_run_writes_results_and_prints_every_target(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--backbones",
            "efficientnet-lite0+blocks-2-4",
            "--repeats",
            "2",
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "cache"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("near_auroc", "far_auroc", "spearman", "id_flag_rate"):
        line = next(
            (
                ln
                for ln in done.stdout.splitlines()
                if ln.startswith(f"TARGET {name}[efficientnet-lite0+blocks-2-4]: ")
            ),
            None,
        )
        assert line is not None and line.endswith(("-> PASS", "-> MISS")), done.stdout
    document = json.loads((out / "results.json").read_text())
    (result,) = document["results"]
    methods = {row["method"] for row in result["summary"]}
    assert {"fmood:detector", "pytorch-ood:knn", "pytorch-ood:vim", "pytorch-ood:msp"} <= methods
    sets = {row["set"] for row in result["detection"]}
    assert sets == set(document["setup"]["near"]) | set(document["setup"]["far"])
    for row in result["detection"]:
        assert 0.0 <= row["auroc"] <= 1.0 and 0.0 <= row["fpr95"] <= 1.0
    # far-OOD (other modalities, photographs) is easy for real features: a wiring check
    far = [
        row["auroc"]
        for row in result["detection"]
        if row["method"] == "fmood:detector" and row["group"] == "far"
    ]
    assert min(far) > 0.9
    assert {row["alpha"] for row in result["calibration_repeated"]} == {0.01, 0.05, 0.1}
    markdown = (out / "results.md").read_text()
    assert "## Targets" in markdown and "| pytorch-ood:vim |" in markdown
    assert (out / "severity-efficientnet-lite0-blocks-2-4.png").stat().st_size > 10_000
