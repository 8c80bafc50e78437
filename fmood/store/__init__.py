"""Persistent, FAISS-searchable storage of embeddings and per-image metadata."""

from fmood.store.feature_store import FeatureStore
from fmood.store.fingerprint import Fingerprint
from fmood.store.index import build_index, search, to_device, train_and_add, train_index
from fmood.store.neighbors import Neighbors

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
