"""Readable surprise axes and the flag threshold drawn where images are flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fmood.calibration.combine import benjamini_hochberg
from fmood.report.plots import LINEAR_SURPRISE_MAX, surprise_axis
from fmood_bench.demo import flag_threshold_surprise


def _tick_labels(top: float) -> list[str]:
    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, top])
    surprise_axis(ax.yaxis, ax.set_yscale, top)
    ax.set_ylim(0, top)
    fig.canvas.draw()
    return [t.get_text() for t in ax.get_yticklabels() if t.get_text()]


def test_a_small_surprise_range_gets_integer_ticks_on_a_linear_axis():
    """Issue 12: the severity plot's log axis showed only "0" and "10^0"."""
    labels = _tick_labels(3.6)
    assert len(labels) >= 4
    assert [float(t.replace("\N{MINUS SIGN}", "-")) for t in labels] == list(range(len(labels)))


def test_a_large_surprise_range_gets_plain_decade_ticks():
    labels = _tick_labels(180.0)
    assert LINEAR_SURPRISE_MAX < 180
    assert labels == ["0", "1", "2", "5", "10", "20", "50", "100"]


def test_the_flag_line_is_the_benjamini_hochberg_cut_off_not_p_005():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=300), rng.uniform(0, 2e-3, size=40)])
    flagged = benjamini_hochberg(p, 0.05)
    scores = pd.DataFrame({"p_combined": p, "surprise": -np.log10(p), "flagged": flagged})
    line = flag_threshold_surprise(scores, 0.05)
    assert scores.loc[flagged, "surprise"].min() >= line > scores.loc[~flagged, "surprise"].max()
    assert line > -np.log10(0.05) + 0.5
