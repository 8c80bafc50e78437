"""The demo job: embeddings of a multi-site reference and a shifted target, scored end to end.

Until image embedding exists (``fmood embed``), the demo runs the feature-space pipeline on
synthetic embeddings from :func:`fmood.datasets.make_hospital_shift`: it builds a feature
store, fits a calibrated detector, scores the target, measures dataset distances and writes
``scores.csv``, ``summary.json`` and ``degrees.png``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fmood.calibration.detector import OODDetector
from fmood.datasets import make_hospital_shift
from fmood.distances import dataset_distance
from fmood.metrics import auroc, severity_spearman
from fmood.store import FeatureStore, Fingerprint
from fmood.store.atomic import write_atomic, write_bytes_atomic

ALPHA = 0.05
DISTANCES = ("mmd", "frechet")
N_BOOTSTRAP = 100


def run_demo(out_dir: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Run the demo into ``out_dir`` (replaced if it holds an earlier demo); return the summary."""
    out = Path(out_dir)
    steps = tqdm(total=5, desc="fmood demo", disable=not progress, unit="step")
    data = make_hospital_shift()
    store_dir = out / "reference_store"
    if store_dir.exists():
        shutil.rmtree(store_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = FeatureStore.create(
        store_dir, data.reference.shape[1],
        Fingerprint("synthetic-demo", None, "make_hospital_shift(random_state=0)"),
    )
    store.add(data.reference, data.reference_metadata)
    steps.update()

    meta = store.metadata
    detector = OODDetector().fit(store.embeddings, groups=meta["patient"], domains=meta["site"])
    detector.save(out / "detector")
    steps.update()

    table = pd.concat(
        [data.target_metadata.reset_index(drop=True), detector.assess(data.target, ALPHA)], axis=1
    )
    write_atomic(out / "scores.csv", lambda tmp: table.to_csv(tmp, index=False))
    steps.update()

    clean = table["shift"] == "none"
    # Slices of one patient are near-duplicates: resample and split by patient.
    patients_ref, patients_target = meta["patient"].to_numpy(), table["patient"].to_numpy()
    distances = {
        shift: {
            method: dataset_distance(
                store.embeddings, data.target[rows], method=method, n_bootstrap=N_BOOTSTRAP,
                groups_a=patients_ref, groups_b=patients_target[rows],
            ).to_dict()
            for method in DISTANCES
        }
        for shift, rows in _shift_groups(table).items()
    }
    steps.update()

    summary = _summarise(table, clean, distances, len(store))
    write_bytes_atomic(out / "summary.json", json.dumps(summary, indent=2).encode())
    _plot(table, out / "degrees.png")
    steps.update()
    steps.close()
    return summary


def _shift_groups(table: pd.DataFrame) -> dict[str, np.ndarray]:
    groups = {"in-distribution": (table["shift"] == "none").to_numpy()}
    for shift in ("artifact", "new-site", "other-modality"):
        groups[shift] = (table["shift"] == shift).to_numpy()
    return groups


def _summarise(table: pd.DataFrame, clean: pd.Series, distances: dict, n_reference: int) -> dict[str, Any]:
    artifacts = table[(table["shift"] == "artifact") | clean]
    rho, _ = severity_spearman(artifacts["degree"], artifacts["severity"])
    by_shift = {
        shift: {
            "n": int(len(rows)),
            "flagged_share": float(rows["flagged"].mean()),
            "median_degree": float(rows["degree"].median()),
            "auroc_vs_in_distribution": None if shift == "none" else float(
                auroc(table.loc[clean, "surprise"], rows["surprise"])
            ),
        }
        for shift, rows in table.groupby("shift")
    }
    by_severity = {
        str(sev): float(rows["degree"].median()) for sev, rows in artifacts.groupby("severity")
    }
    return {
        "alpha": ALPHA,
        "n_reference": n_reference,
        "n_target": int(len(table)),
        "flagged_share": float(table["flagged"].mean()),
        "by_shift": by_shift,
        "artifact_median_degree_by_severity": by_severity,
        "artifact_spearman_degree_vs_severity": float(rho),
        "distances": distances,
    }


def _plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    groups = [
        ("in-distribution" if name == "none" else name, rows["surprise"].to_numpy())
        for name, rows in table.groupby("shift")
    ]
    left.boxplot([g for _, g in groups], showfliers=False)
    left.set_xticks(range(1, len(groups) + 1), [n for n, _ in groups])
    left.set_ylabel("surprise = -log10 p (higher = more OOD)")
    left.set_title("OOD evidence by kind of image")
    artifacts = table[table["shift"].isin(["none", "artifact"])].groupby("severity")
    right.plot(artifacts["surprise"].median(), marker="o", label="median surprise")
    right.axhline(-np.log10(ALPHA), color="grey", linestyle="--", label=f"p = {ALPHA}")
    right.set_yscale("symlog", linthresh=1.0)
    right.set_xlabel("artifact severity (0 = clean)")
    right.set_ylabel("surprise = -log10 p")
    right.set_title("Evidence keeps growing with artifact severity")
    right.legend()
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
