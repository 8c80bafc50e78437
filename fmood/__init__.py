"""fmood: out-of-distribution detection in the frozen embedding space of foundation models.

The feature-space engine: a persistent FAISS-backed :class:`FeatureStore`, raw scorers
(:mod:`fmood.scorers`), the calibrated :class:`OODDetector` (p-values, a continuous OOD
degree, FDR-controlled flags), dataset-level distances (:func:`dataset_distance`) and
evaluation metrics (:mod:`fmood.metrics`).
"""
__version__ = "0.1.0"

from fmood._validation import drop_nonfinite
from fmood.calibration.detector import OODDetector
from fmood.distances import DistanceResult, dataset_distance
from fmood.scorers import available_scorers, get_scorer
from fmood.store import FeatureStore, Fingerprint

__all__ = [
    "DistanceResult",
    "FeatureStore",
    "Fingerprint",
    "OODDetector",
    "available_scorers",
    "dataset_distance",
    "drop_nonfinite",
    "get_scorer",
]
