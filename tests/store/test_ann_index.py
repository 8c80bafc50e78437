"""Stores searched with trained approximate indexes (HNSW, IVF), persisted in index.faiss."""

import json

import numpy as np
import pytest

from fmood.errors import StoreCorruptError
from fmood.store import FeatureStore


def recall(found, exact):
    return np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact, strict=True)])


def manifest(store):
    return json.loads((store.path / "manifest.json").read_text())


@pytest.mark.parametrize("spec", ["HNSW32", "IVF16,Flat"])
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_recall_and_persistence(tmp_path, clustered, spec, metric):
    X = clustered(1000, 16)
    Q = clustered(100, 16)
    exact = FeatureStore.create(tmp_path / "exact", 16, metric=metric)
    exact.add(X)
    ann = FeatureStore.create(tmp_path / "ann", 16, index=spec, metric=metric)
    ann.add(X[:700])
    ann.add(X[700:])
    assert manifest(ann)["index_count"] == 1000 and (ann.path / "index.faiss").is_file()
    truth = exact.nearest(Q, k=10)
    found = ann.nearest(Q, k=10)
    assert recall(found.ids, truth.ids) >= 0.9
    hit = found.ids == truth.ids  # where both agree, so must the distances
    np.testing.assert_allclose(found.distances[hit], truth.distances[hit], atol=1e-5)

    reopened = FeatureStore.open(ann.path).nearest(Q, k=10)
    np.testing.assert_array_equal(reopened.ids, found.ids)
    np.testing.assert_allclose(reopened.distances, found.distances)


def test_ivf_searches_exactly_until_it_can_train(tmp_path, clustered):
    X = clustered(700, 16)
    s = FeatureStore.create(tmp_path / "s", 16, index="IVF16,Flat", metric="l2")
    s.add(X[:600])  # 39 points per list are needed: 624
    assert manifest(s)["index_count"] is None and not (s.path / "index.faiss").exists()
    exact = FeatureStore.create(tmp_path / "exact", 16, metric="l2")
    exact.add(X[:600])
    expected = exact.nearest(X[:20], k=5).ids
    np.testing.assert_array_equal(s.nearest(X[:20], k=5, nprobe=1).ids, expected)
    s.add(X[600:])
    assert manifest(s)["index_count"] == 700
    assert s.nearest(X[:20], k=5, nprobe=16).ids.shape == (20, 5)


def test_nprobe_and_ef_search_are_checked(tmp_path, clustered):
    s = FeatureStore.create(tmp_path / "s", 16, index="HNSW32")
    s.add(clustered(50, 16))
    assert s.nearest(s.embeddings[:3], k=4, ef_search=128).ids.shape == (3, 4)
    with pytest.raises(ValueError, match="nprobe applies only to IVF"):
        s.nearest(s.embeddings[:3], k=4, nprobe=4)


def test_index_file_missing_is_corrupt(tmp_path, clustered):
    s = FeatureStore.create(tmp_path / "s", 16, index="HNSW32")
    s.add(clustered(50, 16))
    (s.path / "index.faiss").unlink()
    with pytest.raises(StoreCorruptError, match=r"index\.faiss is missing.*indexes 50 vectors"):
        FeatureStore.open(s.path)
