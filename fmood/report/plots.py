"""The report's figures, rendered with matplotlib into inline PNG ``data:`` URIs.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot), so no global
state or interactive backend is touched and nothing is left open.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator, ScalarFormatter

from fmood.report.analysis import EmbeddingMap

REFERENCE_COLOUR = "#8a8a8a"
TARGET_COLOUR = "#1f5fa8"
FLAGGED_COLOUR = "#c62828"
#: Darker than the histogram grey: the reference is drawn see-through over the target.
REFERENCE_MAP_COLOUR = "#222222"
DPI = 100


def to_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    # No "Software" entry: identical inputs give identical bytes.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def degree_figure(
    target_p: np.ndarray, calibration_p: np.ndarray, bh_cutoff: float, alpha: float
) -> str:
    """Histogram of degrees and ECDF of surprise, target against the calibration part.

    Parameters
    ----------
    target_p : ndarray of shape (n_target,)
        Combined p-values of the target.
    calibration_p : ndarray of shape (n_calibration,)
        Leave-one-out combined p-values of the reference's calibration part.
    bh_cutoff : float
        The Benjamini-Hochberg cut-off on p behind the flags (:func:`analysis.bh_threshold`).
    alpha : float
    """
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    bins = np.linspace(0.0, 1.0, 21)
    left.hist(
        1 - calibration_p,
        bins=bins,
        density=True,
        color=REFERENCE_COLOUR,
        alpha=0.6,
        label=f"reference calibration part (n={calibration_p.size})",
    )
    left.hist(
        1 - target_p,
        bins=bins,
        density=True,
        histtype="step",
        linewidth=2,
        color=TARGET_COLOUR,
        label=f"target (n={target_p.size})",
    )
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
    threshold = -np.log10(max(bh_cutoff, floor))
    right.axvline(
        threshold,
        color=FLAGGED_COLOUR,
        linestyle="--",
        linewidth=1,
        label=f"flag threshold (BH, FDR {alpha:g}): surprise {threshold:.2g}",
    )
    top = max(threshold, float(np.max(-np.log10(np.maximum(target_p, floor)), initial=0.0)))
    surprise_axis(right.xaxis, right.set_xscale, top)
    right.set_xlim(left=0)
    right.set_xlabel("surprise = -log10 p (higher = more OOD)")
    right.set_ylabel("share of images at or below")
    right.set_title("Cumulative distribution of surprise")
    right.set_ylim(0, 1.02)
    right.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return to_data_uri(fig)


#: Largest surprise drawn on a linear axis; beyond it the axis is logarithmic above 1.
LINEAR_SURPRISE_MAX = 20.0


def surprise_axis(axis: Axis, set_scale: Callable[..., None], top: float) -> None:
    """Readable ticks for surprise = -log10 p: integers on a linear axis up to
    :data:`LINEAR_SURPRISE_MAX`, else a symmetric-log axis with ticks 0, 1, 2, 5, 10, 20, 50...
    written as plain numbers."""
    if top <= LINEAR_SURPRISE_MAX:
        set_scale("linear")
        axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=3))
        return
    set_scale("symlog", linthresh=1.0, linscale=0.5)
    ticks = [0.0] + [m * 10.0**e for e in range(int(np.log10(top)) + 1) for m in (1, 2, 5)]
    axis.set_major_locator(FixedLocator([t for t in ticks if t <= top * 1.05]))
    axis.set_minor_locator(NullLocator())
    formatter = ScalarFormatter()
    formatter.set_scientific(False)
    axis.set_major_formatter(formatter)


def map_figure(mapped: EmbeddingMap, flagged: np.ndarray) -> str:
    """Scatter of the 2-D map: target blue, flagged target red crosses, reference on top in
    see-through dark grey."""
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.subplots()
    shown = flagged[mapped.target_rows]
    ax.scatter(
        mapped.target[~shown, 0],
        mapped.target[~shown, 1],
        s=9,
        color=TARGET_COLOUR,
        alpha=0.45,
        linewidths=0,
        label=f"target, not flagged ({int((~shown).sum())})",
    )
    ax.scatter(
        mapped.target[shown, 0],
        mapped.target[shown, 1],
        s=16,
        color=FLAGGED_COLOUR,
        marker="x",
        linewidths=1,
        alpha=0.6,
        label=f"target, flagged ({int(shown.sum())})",
    )
    # Drawn last, see-through: the reference stays visible where the target covers it.
    ax.scatter(
        mapped.reference[:, 0],
        mapped.reference[:, 1],
        s=10,
        color=REFERENCE_MAP_COLOUR,
        alpha=0.35,
        linewidths=0,
        label=f"reference ({len(mapped.reference)}), on top",
    )
    axis = "PC" if mapped.method == "PCA" else mapped.method
    ax.set_xlabel(f"{axis} 1")
    ax.set_ylabel(f"{axis} 2")
    ax.set_title(f"{mapped.method} map of reference and target")
    legend = ax.legend(loc="best", fontsize=8, markerscale=2, framealpha=0.9)
    for handle in legend.legend_handles:
        if handle is not None:  # None for an artist matplotlib has no legend handle for
            handle.set_alpha(1.0)
    fig.tight_layout()
    return to_data_uri(fig)
