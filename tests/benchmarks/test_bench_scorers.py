"""The benchmark script runs end to end at its --quick sizes and prints every target line."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real models or whole pipelines: make test-fast skips them

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scorers.py"
TARGETS = [
    "exact_knn_vs_matmul",
    "exact_knn_speedup_vs_pytorch_ood",
    "ann_auroc_gap",
    "ann_speedup_vs_pytorch_ood_fit_score",
    "ann_speedup_vs_pytorch_ood_score_only",
    "sliced_wasserstein_time",
    "mahalanobis_peak_memory",
]


def test_quick_run_prints_every_target():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    for name in TARGETS:
        line = next((ln for ln in lines if ln.startswith(f"TARGET {name}: ")), None)
        assert line is not None, f"no TARGET {name} line in:\n{done.stdout}"
        assert line.endswith(("-> PASS", "-> MISS")), line
    sanity = next(ln for ln in lines if ln.startswith("SANITY knn_auroc: "))
    # fmood and pytorch-ood compute the same score, so the same AUROC.
    fmood_auroc, theirs = float(sanity.split()[3]), float(sanity.split()[5])
    assert abs(fmood_auroc - theirs) < 1e-3, sanity
    assert "failed" not in done.stdout, done.stdout
