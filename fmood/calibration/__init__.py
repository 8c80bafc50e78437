"""Calibration: raw scores -> conformal p-values -> a continuous OOD degree and FDR flags.

:class:`OODDetector` is the entry point; the conformal calibrators, the p-value
combinations and the calibration splits it is built from are exported too. Names are
imported on first use (PEP 562), so reaching one submodule does not load the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fmood._lazy import lazy_attributes

#: Public name -> the module that defines it.
_LAZY = {
    "ConformalCalibrator": "fmood.calibration.conformal",
    "CrossConformalCalibrator": "fmood.calibration.conformal",
    "OODDetector": "fmood.calibration.detector",
    "SmallReferenceWarning": "fmood.calibration.detector",
    "benjamini_hochberg": "fmood.calibration.combine",
    "calibration_folds": "fmood.calibration.split",
    "calibration_split": "fmood.calibration.split",
    "cauchy_pvalue": "fmood.calibration.combine",
    "cauchy_statistic": "fmood.calibration.combine",
}

__all__ = [
    "ConformalCalibrator",
    "CrossConformalCalibrator",
    "OODDetector",
    "SmallReferenceWarning",
    "benjamini_hochberg",
    "calibration_folds",
    "calibration_split",
    "cauchy_pvalue",
    "cauchy_statistic",
]

if TYPE_CHECKING:
    from fmood.calibration.combine import benjamini_hochberg, cauchy_pvalue, cauchy_statistic
    from fmood.calibration.conformal import ConformalCalibrator, CrossConformalCalibrator
    from fmood.calibration.detector import OODDetector, SmallReferenceWarning
    from fmood.calibration.split import calibration_folds, calibration_split


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
