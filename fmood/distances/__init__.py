"""Dataset-level distances between a reference set and a target set of embeddings.

``dataset_distance(A, B, method=...)`` returns a :class:`DistanceResult`: the distance,
a bootstrap interval, a noise floor from two halves of A, and (mmd) a permutation p-value.
"""

from fmood.distances.api import (
    available_distances,
    dataset_distance,
    get_distance,
    is_distance,
    list_distances,
)
from fmood.distances.base import PairDistance
from fmood.distances.frechet import frechet_distance
from fmood.distances.mmd import mmd2_unbiased
from fmood.distances.result import DistanceResult
from fmood.distances.sinkhorn import sinkhorn_cost
from fmood.distances.sliced_wasserstein import sliced_wasserstein

__all__ = [
    "DistanceResult",
    "PairDistance",
    "available_distances",
    "dataset_distance",
    "frechet_distance",
    "get_distance",
    "is_distance",
    "list_distances",
    "mmd2_unbiased",
    "sinkhorn_cost",
    "sliced_wasserstein",
]
