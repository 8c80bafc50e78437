import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_feature_space_quickstart_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "feature_space_quickstart.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "other modality: mmd" in done.stdout and "most atypical image" in done.stdout
    assert (tmp_path / "reference" / "manifest.json").exists()
