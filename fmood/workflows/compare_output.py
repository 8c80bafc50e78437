"""Deprecated home of the comparison's files: use :mod:`fmood.workflows.comparison.output`.

Kept so existing imports keep working; every name warns (DeprecationWarning) when used.
``write_comparison`` is not forwarded: its replacement takes the
:class:`~fmood.workflows.comparison.BackboneMeasures` records in place of their summary dicts.
"""

from __future__ import annotations

from typing import Any

from fmood._deprecation import forward_moved

_OUTPUT = "fmood.workflows.comparison.output"
#: Old name -> (new module, new name).
_MOVED = {
    **{
        name: (_OUTPUT, name)
        for name in (
            "COLUMNS",
            "CSV_NAME",
            "HTML_NAME",
            "LABEL_COLUMNS",
            "MARKDOWN_NAME",
            "RANKINGS",
            "SUMMARY_FORMAT",
            "SUMMARY_FORMAT_VERSION",
            "SUMMARY_NAME",
            "THROUGHPUT_COLUMNS",
            "ComparisonFiles",
            "markdown",
            "meaning",
            "ranked_table",
            "render_html",
        )
    },
    "check_out_dir": ("fmood.utils.outputs", "check_out_dir"),
    "plain": ("fmood.report.outputs", "plain"),
}


def __getattr__(name: str) -> Any:
    if name == "write_comparison":  # its arguments changed: an alias would fail further on
        raise AttributeError(
            f"{__name__}.write_comparison was replaced by "
            "fmood.workflows.comparison.output.write_comparison, which takes BackboneMeasures "
            "records instead of summary dicts"
        )
    return forward_moved(__name__, _MOVED, name)
