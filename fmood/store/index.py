"""Old home of the FAISS index helpers, now :mod:`fmood.utils.index`.

Re-exported so existing imports keep working; new code imports :mod:`fmood.utils.index`.
"""

from fmood.utils.index import (
    DEFAULT_EF_SEARCH,
    DEVICES,
    MAX_TRAINING_POINTS_PER_CENTROID,
    METRICS,
    POINTS_PER_CENTROID,
    build_index,
    default_nprobe,
    gpu_available,
    is_exact,
    min_training_points,
    recommended_training_points,
    search,
    to_device,
    train_and_add,
    train_index,
)

__all__ = [
    "DEFAULT_EF_SEARCH",
    "DEVICES",
    "MAX_TRAINING_POINTS_PER_CENTROID",
    "METRICS",
    "POINTS_PER_CENTROID",
    "build_index",
    "default_nprobe",
    "gpu_available",
    "is_exact",
    "min_training_points",
    "recommended_training_points",
    "search",
    "to_device",
    "train_and_add",
    "train_index",
]
