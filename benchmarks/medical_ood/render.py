"""The medical benchmark's Markdown tables and severity plots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmood.utils.atomic import write_atomic, write_bytes_atomic
from fmood_bench.evaluation.methods import DETECTOR

#: Methods drawn in the severity plots (all are in the tables).
PLOTTED = (
    DETECTOR,
    "fmood:ot",
    "pytorch-ood:knn",
    "pytorch-ood:mahalanobis",
    "pytorch-ood:vim",
    "pytorch-ood:msp",
)
COMMAND = "python benchmarks/medical_ood/run.py"


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", label.lower()).strip("-")


def table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table (numbers right-aligned, NaN shown as n/a)."""

    def cell(value: Any) -> str:
        if isinstance(value, (float, np.floating)):
            return "n/a" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    lines = [
        "| " + " | ".join(map(str, frame.columns)) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines)


def _pivot(detection: pd.DataFrame, metric: str, sets: list[str]) -> pd.DataFrame:
    wide = detection.pivot(index="method", columns="set", values=metric)
    return wide[[s for s in sets if s in wide.columns]].reset_index()


def _targets(results: list[dict[str, Any]]) -> list[str]:
    rows = []
    for result in results:
        for name, t in result.get("targets", {}).items():
            if name in ("near_auroc", "far_auroc") or name in ("severity1_auroc", "mean_spearman"):
                measured = (
                    f"fmood {t['fmood']:.3f} vs {t['best_baseline']} {t['baseline']:.3f} "
                    f"({t['margin']:+.3f})"
                )
            elif name == "id_flagged_bh":
                measured = f"{t['observed']:.3f} of id images flagged"
            elif name == "spearman":
                measured = (
                    f"{t['at_least_0.9']} of {t['artifacts']} artifacts >= 0.9 ("
                    + ", ".join(f"{k} {v:.2f}" for k, v in t["per_artifact"].items())
                    + ")"
                )
            else:
                measured = (
                    f"{t['observed']:.3f} at alpha {t['alpha']} ({t['gap_points']:+.1f} points)"
                )
            rows.append(
                {
                    "backbone": result["backbone"],
                    "target": name,
                    "measured": measured,
                    "verdict": "PASS" if t["pass"] else "MISS",
                }
            )
    return [table(pd.DataFrame(rows))] if rows else []


def headline(results: list[dict[str, Any]]) -> pd.DataFrame:
    """Near / far AUROC of every method (rows) for every backbone (column pairs)."""
    columns = {}
    for result in results:
        summary = result["summary"].set_index("method")
        for group in ("near", "far"):
            columns[f"{result['backbone']} {group}"] = summary[f"{group}_auroc"]
    frame = pd.DataFrame(columns)
    return frame.sort_values(frame.columns[0], ascending=False).rename_axis("method").reset_index()


def write_markdown(setup: dict[str, Any], results: list[dict[str, Any]], path: Path) -> None:
    """Every table of the run as one Markdown document."""
    sets = setup["near"] + setup["far"]
    counts = ", ".join(f"{k} {v}" for k, v in setup["counts"].items())
    out = [
        "# Medical OOD benchmark: fmood vs pytorch-ood 0.4.0 on the same embeddings",
        "",
        (
            f"Reproduce: `{COMMAND}{' --quick' if setup['quick'] else ''}` "
            f"(seed {setup['seed']}; {setup['seconds'] / 60:.1f} min for this run)."
        ),
        "",
        (
            f"Images per set: {counts}. Near-OOD: {', '.join(setup['near'])}. "
            f"Far-OOD: {', '.join(setup['far'])}. Every OOD set is compared with `id` "
            "(slices of subjects the reference never saw)."
        ),
        "",
        (
            "Conventions: scores are higher = more OOD. FPR95 = share of OOD images accepted as ID "
            "when 95% of ID images are accepted (ID positive, as ODIN and energy papers); the "
            "OOD-positive variant of OpenOOD / pytorch-ood is in results.json (`fpr95_ood_positive`). "
            "AUPR-in takes ID as positive, AUPR-out OOD. `fmood:detector` is the default "
            "OODDetector (Mahalanobis + residual, cross-fitted calibration: 5 folds of whole "
            "subjects, each scored by the scorers fitted on the other four); its evidence is -log10 "
            "of the combined p-value. Variants: `-split` (fitted on 70%, calibrated on 30%, the "
            "default before issue 10), `-split-refit` and `-refit` (scorers refitted on the whole "
            "reference after calibration), `-cv+` (each fold model against its own fold, CV+), `++` "
            "(Mahalanobis++ normalisation of both scorers), `-blocks` (Mahalanobis per layer block, "
            "for multi-layer embeddings). `fmood:<scorer>` are "
            "fmood's raw scorers and `pytorch-ood:<method>` the library's detectors, fitted on the "
            "whole reference; MSP, energy, MaxLogit and ViM read a linear probe trained on the "
            "reference's slice level (inferior / middle / superior); pytorch-ood's Mahalanobis and "
            "GMM are class-conditional on the same labels. `fmood:ot` is transductive: each image's "
            "score depends on the other target images scored with it (the whole target here), so "
            "it is not comparable one-for-one with the inductive methods."
        ),
        "",
        "## Targets",
        "",
        *_targets(results),
        "",
        "## Near- and far-OOD AUROC (mean over sets) by backbone",
        "",
        table(headline(results)),
        "",
    ]
    for result in results:
        name = result["backbone"]
        out += [
            f"## {name}",
            "",
            (
                f"{result['dim']}-d features; reference {result['n_reference']} images, target "
                f"{result['n_target']}; weights sha256 "
                f"`{(result['fingerprint'].get('weights_sha256') or 'n/a')[:16]}`."
            ),
            "",
            "Near / far averages (mean over sets), best near-OOD AUROC first:",
            "",
            table(result["summary"]),
            "",
            "Spearman of the score with artifact severity (clean source slices = severity 0):",
            "",
            table(result["severity"].reset_index(), 2),
            "",
            "AUROC of the subtlest artifacts (severity 1, all six kinds) against `id`:",
            "",
            table(result["severity1"]),
            "",
            f"![severity curves](severity-{slug(name)}.png)",
            "",
            (
                "In-distribution calibration of the degree: share of held-out subjects' slices with "
                f"p <= alpha, pooled over {setup['repeats']} random subject splits of the 20 "
                "subjects (fitted on the rest each time):"
            ),
            "",
            table(result["calibration_repeated"]),
            "",
            "The same for each detector variant:",
            "",
            table(result["calibration_variants"]),
            "",
            (
                "The same on this run's fixed split (`id` set); Benjamini-Hochberg flags at FDR "
                f"{setup['alpha']}: {result['id_flagged_bh']:.3f} of `id` images."
            ),
            "",
            table(result["calibration_fixed"]),
            "",
            (
                "Failure prediction: the linear probe's errors on the labelled target images (`id` "
                f"and artifacts; error rate {result['error_rate']:.3f}), "
                "ranked by each method's score (lower AURC / AUGRC is better):"
            ),
            "",
            table(result["failure"], 4),
            "",
            "Probe accuracy per set: "
            + ", ".join(f"{k} {v:.2f}" for k, v in result["probe_accuracy"].items())
            + ".",
            "",
        ]
        for metric in ("auroc", "fpr95", "aupr_in", "aupr_out"):
            out += [
                f"<details><summary>{metric} per OOD set</summary>",
                "",
                table(_pivot(result["detection"], metric, sets)),
                "",
                "</details>",
                "",
            ]
        if result["warnings"]:
            out += ["Warnings raised while fitting or scoring:", ""]
            out += [f"- `{m}`: {'; '.join(w)}" for m, w in result["warnings"].items()]
            out.append("")
    write_bytes_atomic(path, "\n".join(out).encode())


def plot_severity(curves: pd.DataFrame, label: str, out_dir: Path) -> Path:
    """One panel per artifact: median ID-percentile of each plotted method against severity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    artifacts = list(pd.unique(curves["artifact"]))
    columns = 3
    rows = int(np.ceil(len(artifacts) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(11, 3.2 * rows), sharey=True, squeeze=False)
    for ax, kind in zip(axes.flat, artifacts, strict=False):
        for method in PLOTTED:
            one = curves[(curves["artifact"] == kind) & (curves["method"] == method)]
            if len(one):
                ax.plot(
                    one["severity"],
                    one["median_id_percentile"],
                    marker="o",
                    label=method,
                    linewidth=2.5 if method == DETECTOR else 1.2,
                )
        ax.set_title(kind)
        ax.set_xlabel("severity (0 = clean slice)")
        ax.set_ylim(0, 1.05)
    for ax in axes.flat[len(artifacts) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("median ID percentile")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{label}: OOD score against artifact severity")
    fig.tight_layout()
    path = out_dir / f"severity-{slug(label)}.png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path
