"""The report: one self-contained HTML page, a per-image CSV and a JSON summary saying whether
and where a target dataset falls outside a reference.

``build_report(reference_store, target_store, out_dir)`` is the entry point; see
:mod:`fmood.report.verdict` for the status rule.
"""

from fmood._extras import missing_extra

try:
    from fmood.report.build import ReportSummary, build_report
    from fmood.report.verdict import STATUSES
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "fmood.report", "report") from exc

__all__ = ["STATUSES", "ReportSummary", "build_report"]
