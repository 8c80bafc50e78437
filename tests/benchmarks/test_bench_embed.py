"""The embedding benchmark runs end to end at its --quick sizes and prints every target line."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real models or whole pipelines: make test-fast skips them

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_embed.py"


def test_quick_run_prints_every_target():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    for name in (
        "pipeline_efficiency[efficientnet-lite0]",
        "memory_growth_main",
        "memory_growth_worker",
    ):
        line = next((ln for ln in lines if ln.startswith(f"TARGET {name}: ")), None)
        assert line is not None, f"no TARGET {name} line in:\n{done.stdout}"
        assert line.endswith(("-> PASS", "-> MISS")), line
    rows = [ln.split() for ln in lines if ln.startswith("efficientnet-lite0 ")]
    assert len(rows) == 1
    for row in rows:  # bare and pipeline throughputs are positive numbers
        assert float(row[3]) > 0 and float(row[4]) > 0
