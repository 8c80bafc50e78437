"""The report's figures, rendered with matplotlib into inline PNG ``data:`` URIs.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot), so no global
state or interactive backend is touched and nothing is left open.
"""
from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.figure import Figure

from fmood.report.analysis import EmbeddingMap

REFERENCE_COLOUR = "#8a8a8a"
TARGET_COLOUR = "#1f5fa8"
FLAGGED_COLOUR = "#c62828"
DPI = 100


def to_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    # No "Software" entry: identical inputs give identical bytes.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def degree_figure(
    target_p: np.ndarray, calibration_p: np.ndarray, flagged: np.ndarray, alpha: float
) -> str:
    """Histogram of degrees and ECDF of surprise, target against the calibration part.

    Parameters
    ----------
    target_p : ndarray of shape (n_target,)
        Combined p-values of the target.
    calibration_p : ndarray of shape (n_calibration,)
        Leave-one-out combined p-values of the reference's calibration part.
    flagged : ndarray of bool, shape (n_target,)
    alpha : float
    """
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    bins = np.linspace(0.0, 1.0, 21)
    left.hist(1 - calibration_p, bins=bins, density=True, color=REFERENCE_COLOUR, alpha=0.6,
              label=f"reference calibration part (n={calibration_p.size})")
    left.hist(1 - target_p, bins=bins, density=True, histtype="step", linewidth=2,
              color=TARGET_COLOUR, label=f"target (n={target_p.size})")
    left.set_xlabel("OOD degree (1 - p)")
    left.set_ylabel("density")
    left.set_title("OOD degree")
    left.legend(loc="upper left", fontsize=8)

    floor = np.finfo(np.float64).tiny
    for p, colour, label in (
        (calibration_p, REFERENCE_COLOUR, "reference calibration part"),
        (target_p, TARGET_COLOUR, "target"),
    ):
        surprise = np.sort(-np.log10(np.maximum(p, floor)))
        ecdf = np.arange(1, surprise.size + 1) / surprise.size
        right.step(surprise, ecdf, where="post", color=colour, linewidth=2, label=label)
    if flagged.any():
        least = -np.log10(max(float(target_p[flagged].max()), floor))
        right.axvline(least, color=FLAGGED_COLOUR, linestyle="--", linewidth=1,
                      label=f"flagged beyond (FDR {alpha:g})")
    right.set_xscale("symlog", linthresh=1.0)
    right.set_xlim(left=0)
    right.set_xlabel("surprise = -log10 p (higher = more OOD)")
    right.set_ylabel("share of images at or below")
    right.set_title("Cumulative distribution of surprise")
    right.set_ylim(0, 1.02)
    right.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return to_data_uri(fig)


def map_figure(mapped: EmbeddingMap, flagged: np.ndarray) -> str:
    """Scatter of the 2-D map: reference grey, target blue, flagged target red crosses."""
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.subplots()
    ax.scatter(mapped.reference[:, 0], mapped.reference[:, 1], s=6, color=REFERENCE_COLOUR,
               alpha=0.5, linewidths=0, label=f"reference ({len(mapped.reference)})")
    shown = flagged[mapped.target_rows]
    ax.scatter(mapped.target[~shown, 0], mapped.target[~shown, 1], s=8, color=TARGET_COLOUR,
               alpha=0.7, linewidths=0, label=f"target, not flagged ({int((~shown).sum())})")
    ax.scatter(mapped.target[shown, 0], mapped.target[shown, 1], s=14, color=FLAGGED_COLOUR,
               marker="x", linewidths=1, label=f"target, flagged ({int(shown.sum())})")
    axis = "PC" if mapped.method == "PCA" else mapped.method
    ax.set_xlabel(f"{axis} 1")
    ax.set_ylabel(f"{axis} 2")
    ax.set_title(f"{mapped.method} map of reference and target")
    ax.legend(loc="best", fontsize=8, markerscale=2)
    fig.tight_layout()
    return to_data_uri(fig)
