"""Quick look at detector variants on the benchmark's cached embeddings (issue 10, LiteMedSAM gap).

    python benchmarks/medical_ood/detector_variants.py litemedsam+stages-1-2

Run after ``run.py`` (it reuses its data and embedding cache). Prints, per variant of the
default detector (with the reference's slice labels; one scorer only; a third scorer), near-OOD
AUROC, severity-1 AUROC, mean Spearman with severity (as run.py) and the share of the target's
in-distribution slices with p <= 0.05, beside the best baseline's severity-1 AUROC.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import proxy_outliers
from run import BACKBONES

from fmood import OODDetector
from fmood.metrics import auroc
from fmood.workflows import store_for
from fmood_bench.datasets.medical import axial_level
from fmood_bench.evaluation.baselines import make_baseline


def main(label: str) -> None:
    warnings.simplefilter("ignore")
    cache = HERE / "cache"
    model = BACKBONES[label].load()
    stores = [
        store_for(cache / "data" / f"{side}.csv", model, store_root=cache / "embeddings")
        for side in ("reference", "target")
    ]
    (X_ref, ref), (X_tgt, tgt) = (
        (np.asarray(s.embeddings, np.float32), s.metadata.reset_index(drop=True)) for s in stores
    )
    groups, labels = ref["patient"].to_numpy(str), axial_level(ref).to_numpy()
    variants = {
        "default": (OODDetector(), None),
        "default + slice labels": (OODDetector(), labels),
        "mahalanobis (not normalised) only": (OODDetector(scorers=["mahalanobis"]), labels),
        "residual (not normalised) only": (OODDetector(scorers=["residual"]), labels),
        "mahalanobis++ + residual++ + knn": (
            OODDetector(
                scorers=[
                    ("mahalanobis", {"normalize": True}),
                    ("residual", {"normalize": True}),
                    "knn",
                ]
            ),
            labels,
        ),
    }
    for name, (detector, y) in variants.items():
        p = detector.fit(X_ref, y, groups=groups).assess(X_tgt, alpha=None)["p_combined"]
        measured = proxy_outliers.measure(p.to_numpy(), tgt)
        print(f"{name:34s}", "  ".join(f"{k} {v:.3f}" for k, v in measured.items()))
    baseline = make_baseline("mahalanobis").fit(X_ref, labels).score_samples(X_tgt)
    shift = tgt["shift"].to_numpy()
    mild = (tgt["severity"].to_numpy(dtype=float) == 1) & (shift != "id")
    print(
        f"pytorch-ood mahalanobis severity-1 AUROC {auroc(baseline[shift == 'id'], baseline[mild]):.3f}"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "litemedsam+stages-1-2")
