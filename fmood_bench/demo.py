"""The demo job: real images in, an OOD report out, and a check of what it should show.

From data that ships inside pip packages
(:func:`fmood_bench.datasets.medical.make_medical_ood_dataset`): a reference of brain MRI T1
slices (12 subjects), and a target mixing slices of 4 other subjects, six acquisition artifacts
at five fixed severities, other MR contrasts and sequences, other anatomy and other modalities
(CT, X-ray, ultrasound, nuclear medicine, fundus, histology, microscopy, photographs). Both are
embedded with a real-weight backbone into feature stores, the OOD report is written, and
``evaluation.json`` checks it against what is known about each target image: per artifact,
Spearman of the OOD evidence with severity; per kind of image, the share flagged;
in-distribution slices, the false-flag rate.

Everything is cached under ``out_dir``: a second run reuses the images and embeddings.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmood.metrics import auroc, severity_spearman
from fmood.progress import stage_line
from fmood.utils.atomic import write_atomic, write_bytes_atomic
from fmood_bench.evaluation.tables import artifact_rows

ALPHA = 0.05
DEFAULT_BACKBONE = "efficientnet-lite0"
#: Early blocks added to the default backbone's features: they see acquisition (contrast,
#: noise, artifacts) that the last layer, trained for content, pools away. Measured on the
#: demo data: Spearman with noise severity 0.82 -> 0.97, motion 0.82 -> 0.91, blur 0.91 -> 0.97.
DEMO_LAYERS = {"efficientnet-lite0": (2, 4)}


def run_demo(
    out_dir: str | Path,
    *,
    backbone: str = DEFAULT_BACKBONE,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Build the data, embed it, write the report and the evaluation; return the evaluation.

    Writes ``out_dir/data`` (images and manifests), ``out_dir/embeddings`` (the two feature
    stores), ``out_dir/report`` (``report.html``, ``scores.csv``, ``summary.json``),
    ``out_dir/evaluation.json`` and ``out_dir/severity.png``.
    """
    from fmood.backbones import load
    from fmood.report import build_report
    from fmood.workflows import store_for
    from fmood_bench.datasets.medical import make_medical_ood_dataset

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage_line("fmood demo: 1/4 sample data", enabled=progress)
    data = make_medical_ood_dataset(out / "data", progress=progress)
    stage_line("fmood demo: 2/4 embedding", enabled=progress)
    layers = DEMO_LAYERS.get(backbone)
    options: dict[str, Any] = {"layers": layers} if layers else {}
    model = load(backbone, device=device, **options)
    store_root = out / "embeddings"
    reference = store_for(data.reference_csv, model, store_root=store_root, progress=progress)
    target = store_for(data.target_csv, model, store_root=store_root, progress=progress)
    stage_line("fmood demo: 3/4 report", enabled=progress)
    report = build_report(
        reference, target, out / "report", groups_column="patient", alpha=ALPHA, progress=progress
    )
    stage_line("fmood demo: 4/4 evaluation", enabled=progress)
    scores = pd.read_csv(report.scores_path)
    evaluation = {
        "report": str(report.html_path),
        "verdict": report.verdict,
        **evaluate(scores),
        "backbone": model.fingerprint.to_dict(),
    }
    write_bytes_atomic(out / "evaluation.json", json.dumps(evaluation, indent=2).encode())
    plot_severity(scores, out / "severity.png")
    return evaluation


_SOURCE = ["patient", "source_frame"]


def _artifact_rows(scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per artifact type: its images (severity >= 1) and the clean slices they came from (0)."""
    return {kind: scores.iloc[rows] for kind, rows in artifact_rows(scores).items()}


def _per_slice_spearman(rows: pd.DataFrame) -> float:
    """Mean over source slices of Spearman(evidence, severity) across that slice's levels."""
    rhos = [
        0.0
        if one["surprise"].nunique() == 1
        else severity_spearman(one["surprise"], one["severity"])[0]
        for _, one in rows.groupby(_SOURCE)
    ]
    return float(np.mean(rhos))


def evaluate(scores: pd.DataFrame) -> dict[str, Any]:
    """What the report should show, measured on the target's ``scores.csv``.

    ``surprise`` (-log10 p) orders images as the degree does, without the degree's
    rounding to 1 for the clearest cases, so it is the evidence correlated with severity.
    Per artifact type, the correlation pools the artifact images (severity 1-5) with the
    clean slices they were made from (severity 0); ``spearman_per_source_slice`` averages
    it within each source slice, removing slice-to-slice differences in anatomy.
    """
    clean = scores["shift"] == "id"
    by_shift: dict[Hashable, dict[str, Any]] = {}
    for shift, rows in scores.groupby("shift", sort=False):
        by_shift[shift] = {
            "group": str(rows["shift_group"].iloc[0]),
            "n": len(rows),
            "flagged_share": float(rows["flagged"].mean()),
            "median_degree": float(rows["degree"].median()),
            "auroc_vs_id": None
            if shift == "id"
            else float(auroc(scores.loc[clean, "surprise"], rows["surprise"])),
        }
    artifacts = _artifact_rows(scores)
    spearman = {
        kind: float(severity_spearman(rows["surprise"], rows["severity"])[0])
        for kind, rows in artifacts.items()
    }
    per_slice = {kind: _per_slice_spearman(rows) for kind, rows in artifacts.items()}
    groups = {}
    for group in ("near", "far"):
        aurocs = [v["auroc_vs_id"] for v in by_shift.values() if v["group"] == group]
        groups[group] = {
            "mean_auroc_vs_id": float(np.mean(aurocs)) if aurocs else None,
            "flagged_share": float(scores.loc[scores["shift_group"] == group, "flagged"].mean()),
        }
    return {
        "alpha": ALPHA,
        "n_target": len(scores),
        "id_flagged_share": float(scores.loc[clean, "flagged"].mean()),
        "spearman_evidence_vs_severity": spearman,
        "spearman_per_source_slice": per_slice,
        "by_group": groups,
        "by_shift": by_shift,
    }


def flag_threshold_surprise(scores: pd.DataFrame, alpha: float = ALPHA) -> float:
    """The surprise at and above which the report flags images: -log10 of the
    Benjamini-Hochberg cut-off on the target's combined p-values."""
    from fmood.report.analysis import bh_threshold

    return float(-np.log10(bh_threshold(scores["p_combined"].to_numpy(), alpha)))


def plot_severity(scores: pd.DataFrame, path: Path) -> None:
    """Median surprise against severity, one line per artifact type, and the flag threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fmood.report.plots import surprise_axis

    fig, ax = plt.subplots(figsize=(8.4, 4.2))
    top = 0.0
    for kind, rows in _artifact_rows(scores).items():
        medians = rows.groupby("severity")["surprise"].median()
        ax.plot(medians.index, medians.to_numpy(), marker="o", label=kind)
        top = max(top, float(medians.max()))
    threshold = flag_threshold_surprise(scores)
    ax.axhline(
        threshold,
        color="grey",
        linestyle="--",
        label=f"flagged above (BH, FDR {ALPHA:g}): {threshold:.2f}",
    )
    surprise_axis(ax.yaxis, ax.set_yscale, max(top, threshold))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("artifact severity (0 = the clean slice)")
    ax.set_ylabel("median surprise = -log10 p")
    ax.set_title("OOD evidence against acquisition-artifact severity")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
