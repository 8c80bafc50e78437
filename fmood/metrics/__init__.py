"""Evaluation metrics: OOD detection, failure prediction, agreement with shift severity.

Scores follow the fmood convention everywhere: higher = more OOD (or more likely to fail).

:class:`fmood.metrics.probe.LinearProbe`, the classifier whose failures the failure-prediction
metrics rank, is imported from its module, so that the metrics alone load no regression code.
"""

from fmood.metrics.detection import (
    aupr_in,
    aupr_out,
    auroc,
    detection_report,
    fpr_at_95_tpr_id,
    fpr_at_95_tpr_ood,
)
from fmood.metrics.failure import augrc, aurc, risk_coverage_curve
from fmood.metrics.severity import severity_spearman

__all__ = [
    "augrc",
    "aupr_in",
    "aupr_out",
    "aurc",
    "auroc",
    "detection_report",
    "fpr_at_95_tpr_id",
    "fpr_at_95_tpr_ood",
    "risk_coverage_curve",
    "severity_spearman",
]
