"""Raw OOD scorers on embeddings, one per file, all with ``fit(X, y=None)`` / ``score(X)``.

Higher scores mean more out-of-distribution everywhere. Scorers are registered by name
(:func:`get_scorer`, :func:`available_scorers`), so a configuration can say ``"knn"``.
"""
from fmood.scorers.base import BaseScorer, available_scorers, get_scorer
from fmood.scorers.gmm import GMMScorer
from fmood.scorers.knn import KNNScorer
from fmood.scorers.mahalanobis import MahalanobisScorer
from fmood.scorers.ot import OTScorer
from fmood.scorers.relative_mahalanobis import RelativeMahalanobisScorer
from fmood.scorers.residual import ResidualScorer

__all__ = [
    "BaseScorer",
    "GMMScorer",
    "KNNScorer",
    "MahalanobisScorer",
    "OTScorer",
    "RelativeMahalanobisScorer",
    "ResidualScorer",
    "available_scorers",
    "get_scorer",
]
