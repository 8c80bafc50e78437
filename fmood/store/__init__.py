"""Persistent, FAISS-searchable storage of embeddings and per-image metadata."""

from fmood.store.feature_store import FeatureStore
from fmood.store.neighbors import Neighbors

# Defined in fmood.utils (the backbones and scorers need them without the store); also
# exported here, where they have always been importable.
from fmood.utils.fingerprint import Fingerprint
from fmood.utils.index import build_index, search, to_device, train_and_add, train_index

__all__ = [
    "FeatureStore",
    "Fingerprint",
    "Neighbors",
    "build_index",
    "search",
    "to_device",
    "train_and_add",
    "train_index",
]
