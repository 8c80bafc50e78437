"""Deprecated home of the comparison's measures: use :mod:`fmood.workflows.comparison.measures`.

Kept so existing imports keep working; every name warns (DeprecationWarning) when used.
"""

from __future__ import annotations

from typing import Any

from fmood._deprecation import forward_moved

_MEASURES = "fmood.workflows.comparison.measures"
#: Old name -> (new module, new name).
_MOVED = {
    **{
        name: (_MEASURES, name)
        for name in (
            "PENALTY_C",
            "PROBE_HELD_OUT",
            "SEPARABILITY_FOLDS",
            "SEPARABILITY_MAX_SAMPLES",
            "DomainClassifierAUROC",
            "ProbeResult",
            "detector_separability",
            "domain_classifier_auroc",
            "linear_probe",
        )
    },
    # Renamed: it returns the class labels as strings (report.groups.labels_of is another).
    "labels_of": (_MEASURES, "label_strings"),
    "sample_throughput": ("fmood.workflows.comparison.embedding", "sample_throughput"),
}


def __getattr__(name: str) -> Any:
    return forward_moved(__name__, _MOVED, name)
