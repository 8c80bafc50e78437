"""Raw OOD scorers on embeddings, one per file, all with ``fit(X, y=None)`` / ``score(X)``.

Higher scores mean more out-of-distribution everywhere. Scorers are registered by name
(:func:`get_scorer`, :func:`available_scorers`), so a configuration can say ``"knn"``.
"""

from fmood.scorers.base import BaseScorer, available_scorers, get_scorer
from fmood.scorers.block import BlockScorer, block_scorers
from fmood.scorers.gmm import GMMScorer
from fmood.scorers.knn import KNNScorer
from fmood.scorers.mahalanobis import MahalanobisScorer
from fmood.scorers.ot import OTScorer
from fmood.scorers.relative_mahalanobis import RelativeMahalanobisScorer
from fmood.scorers.residual import ResidualScorer
from fmood.scorers.residual_mahalanobis import ResidualMahalanobisScorer

__all__ = [
    "BaseScorer",
    "BlockScorer",
    "GMMScorer",
    "KNNScorer",
    "MahalanobisScorer",
    "OTScorer",
    "RelativeMahalanobisScorer",
    "ResidualMahalanobisScorer",
    "ResidualScorer",
    "available_scorers",
    "block_scorers",
    "get_scorer",
]
