"""Raw OOD scorers on embeddings, one per file, all with ``fit(X, y=None)`` / ``score_samples(X)``.

Higher scores mean more out-of-distribution everywhere (``score(X)`` is the same method under
fmood's name). Scorers are scikit-learn estimators (``get_params``, ``set_params``,
``sklearn.base.clone``) registered by name (:func:`get_scorer`, :func:`list_scorers`,
:func:`is_scorer`), so a configuration can say ``"knn"``.
"""

from fmood.scorers.base import (
    BaseScorer,
    available_scorers,
    get_scorer,
    is_scorer,
    list_scorers,
    register,
)
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
    "is_scorer",
    "list_scorers",
    "register",
]
