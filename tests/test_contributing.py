"""CONTRIBUTING.md's scorer template and test template work as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_scorer_template_registers_and_passes_its_test_template(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "CONTRIBUTING.md").read_text(), re.S)
    scorer, tests = blocks[0], blocks[1]
    assert "class MyScorer(BaseScorer)" in scorer and "def test_" in tests
    (tmp_path / "my_scorer.py").write_text(scorer)
    (tmp_path / "test_my_scorer.py").write_text("import my_scorer  # registers it\n" + tests)
    # A subprocess: registering "my-score" must not leak into this test session's registry.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
