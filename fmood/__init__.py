"""fmood: out-of-distribution detection in the frozen embedding space of foundation models.

The feature-space engine: a persistent FAISS-backed :class:`FeatureStore`, raw scorers
(:mod:`fmood.scorers`), the calibrated :class:`OODDetector` (p-values, a continuous OOD
degree, FDR-controlled flags), dataset-level distances (:func:`dataset_distance`) and
evaluation metrics (:mod:`fmood.metrics`).

The public names are imported on first use (PEP 562), so that ``import fmood`` and the
``fmood`` command start without numpy, scipy, pandas, faiss or torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fmood._lazy import lazy_attributes
from fmood._version import __version__ as __version__

#: Public name -> the module that defines it.
_LAZY = {
    "DistanceResult": "fmood.distances",
    "FeatureStore": "fmood.store",
    "Fingerprint": "fmood.utils.fingerprint",
    "OODDetector": "fmood.calibration.detector",
    "available_scorers": "fmood.scorers",
    "dataset_distance": "fmood.distances",
    "drop_nonfinite": "fmood._validation",
    "get_scorer": "fmood.scorers",
    "is_scorer": "fmood.scorers",
    "list_scorers": "fmood.scorers",
}

__all__ = [
    "DistanceResult",
    "FeatureStore",
    "Fingerprint",
    "OODDetector",
    "available_scorers",
    "dataset_distance",
    "drop_nonfinite",
    "get_scorer",
    "is_scorer",
    "list_scorers",
]

if TYPE_CHECKING:
    from fmood._validation import drop_nonfinite
    from fmood.calibration.detector import OODDetector
    from fmood.distances import DistanceResult, dataset_distance
    from fmood.scorers import available_scorers, get_scorer, is_scorer, list_scorers
    from fmood.store import FeatureStore
    from fmood.utils.fingerprint import Fingerprint


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
