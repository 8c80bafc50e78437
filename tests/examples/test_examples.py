import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # real models or whole pipelines: make test-fast skips them

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, out_dir: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), str(out_dir)],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """One folder for the image examples: the data and embeddings are built once."""
    return tmp_path_factory.mktemp("examples")


def test_feature_space_quickstart_runs(tmp_path):
    out = run_example("feature_space_quickstart.py", tmp_path)
    assert "other modality: mmd" in out and "most atypical image" in out
    assert (tmp_path / "reference" / "manifest.json").exists()


def test_report_example_flags_other_modalities_and_spares_new_subjects(shared):
    out = run_example("report_new_hospital.py", shared)
    assert "written to" in out and (shared / "report" / "report.html").is_file()
    scores = pd.read_csv(shared / "report" / "scores.csv")
    flagged = scores.groupby("shift_group")["flagged"].mean()
    assert flagged["far"] == 1.0 and flagged["id"] <= 0.1


def test_compare_example_ranks_the_random_control_last(shared):
    out = run_example("compare_backbones.py", shared)
    table = pd.read_csv(shared / "compare" / "comparison.csv")
    assert table["backbone"].iloc[-1] == "random:efficientnet-lite0", out
    assert table["backbone"].iloc[:2].str.startswith("efficientnet-lite0").all()
    assert table["reference_accuracy"].notna().all()


def test_explain_example_flags_the_ct_slice_but_not_the_new_subject(shared):
    out = run_example("explain_flagged_image.py", shared)
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert len(lines) == 3
    assert lines[0].startswith("[id]") and "flagged at 5% FDR no" in lines[0]
    assert lines[2].startswith("[ct]") and "flagged at 5% FDR yes" in lines[2]
    assert len(list((shared / "explained").glob("*.html"))) == 3
