"""Deprecated home of the comparison's measures: use :mod:`fmood.workflows.comparison.measures`.

Kept so existing imports keep working; every name warns (DeprecationWarning) when used.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

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
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, new = _MOVED[name]
    warnings.warn(
        f"{__name__}.{name} is deprecated; use {module}.{new}", DeprecationWarning, stacklevel=2
    )
    return getattr(importlib.import_module(module), new)
