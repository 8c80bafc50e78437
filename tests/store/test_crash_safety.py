"""A writer that fails or is killed mid-add leaves the store as it was; readers run concurrently."""

import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

import fmood.store.feature_store as feature_store
from fmood.store import FeatureStore

DIM = 16

# Adds 300 vectors, but stops at ``hook`` (half the vectors written, for append_vectors),
# says "ready" and waits to be SIGKILLed.
CHILD = (
    f"DIM = {DIM}\n"
    + """
import sys, time
import numpy as np
import fmood.store.feature_store as fs
from fmood.store import FeatureStore

path, hook = sys.argv[1], sys.argv[2]
real = getattr(fs, hook)

def stall(*args):
    if hook == "append_vectors":
        target, count, X = args
        real(target, count, X[: len(X) // 2])
    print("ready", flush=True)
    time.sleep(60)

setattr(fs, hook, stall)
X = np.random.default_rng(1).normal(size=(300, DIM)).astype(np.float32)
FeatureStore.open(path, mode="a").add(X, {"path": [f"new{i}" for i in range(300)]})
"""
)


def make_store(path, rng, index="Flat", n=200):
    s = FeatureStore.create(path, DIM, index=index, metric="l2")
    X = rng.normal(size=(n, DIM)).astype(np.float32)
    s.add(X, {"path": [f"old{i}" for i in range(n)], "label": np.arange(n) % 2})
    return s, X


def assert_store_holds(path, X, meta):
    s = FeatureStore.open(path)
    assert len(s) == len(X)
    np.testing.assert_array_equal(s.embeddings, X)
    pd.testing.assert_frame_equal(s.metadata, meta)
    nb = s.nearest(X[:20], k=5)
    exact = np.argsort(cdist(X[:20], X), axis=1)[:, :5]
    assert nb.ids.max() < len(X)
    assert np.mean(nb.ids == exact) >= 0.9  # exact for Flat, nearly so for HNSW


def assert_next_add_cleans_up(path, X, rng):
    s = FeatureStore.open(path, mode="a")
    new = rng.normal(size=(7, DIM)).astype(np.float32)
    np.testing.assert_array_equal(s.add(new), np.arange(len(X), len(X) + 7))
    assert os.path.getsize(path / "vectors.f32") == (len(X) + 7) * DIM * 4  # garbage tail cut
    assert sorted(os.listdir(path / "metadata")) == ["part-000000.parquet", "part-000001.parquet"]
    assert not [f for f in os.listdir(path) if f.endswith(".tmp")]
    reopened = FeatureStore.open(path)
    np.testing.assert_array_equal(reopened.embeddings, np.vstack([X, new]))
    assert reopened.metadata["path"].iloc[-1] is None
    nearest_new = reopened.nearest(new, k=1).ids[:, 0]
    np.testing.assert_array_equal(nearest_new, np.arange(len(X), len(X) + 7))


@pytest.mark.parametrize(
    "index, hook",
    [
        ("HNSW32", "write_part"),
        ("HNSW32", "write_atomic"),  # the index file
        ("HNSW32", "write_manifest"),  # index.faiss holds 50 uncommitted vectors: rebuilt
        ("IVF4,Flat", "write_manifest"),  # likewise, but removed from the IVF lists
    ],
)
def test_failed_add_leaves_previous_contents(tmp_path, rng, monkeypatch, index, hook):
    s, X = make_store(tmp_path / "s", rng, index=index)
    meta = s.metadata

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feature_store, hook, fail)
    with pytest.raises(feature_store.StoreError, match="No space left"):
        s.add(rng.normal(size=(50, DIM)))
    assert os.path.getsize(s.path / "vectors.f32") > len(X) * DIM * 4  # uncommitted tail on disk
    assert len(s) == len(X) and s.nearest(X[:3], k=1).ids.max() < len(X)  # the object is intact too
    assert_store_holds(s.path, X, meta)
    monkeypatch.undo()
    assert_next_add_cleans_up(s.path, X, rng)


@pytest.mark.parametrize(
    "index, hook",
    [("Flat", "append_vectors"), ("Flat", "write_part"), ("HNSW32", "write_manifest")],
)
def test_killed_writer_leaves_previous_contents(tmp_path, rng, index, hook):
    s, X = make_store(tmp_path / "s", rng, index=index)
    meta = s.metadata
    args = [sys.executable, "-c", CHILD, str(s.path), hook]
    child = subprocess.Popen(args, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"ready\n"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert os.path.getsize(s.path / "vectors.f32") > len(X) * DIM * 4
    assert_store_holds(s.path, X, meta)  # for HNSW, index.faiss already holds the 300 uncommitted
    assert_next_add_cleans_up(s.path, X, rng)


READER = """
import sys
import numpy as np
from fmood.store import FeatureStore

path, queries, out = sys.argv[1:]
nb = FeatureStore.open(path).nearest(np.load(queries), k=10)
np.savez(out, ids=nb.ids, distances=nb.distances, paths=nb.table()["path"].to_numpy(dtype=str))
"""


def test_concurrent_readers_agree(tmp_path, rng):
    s, _ = make_store(tmp_path / "s", rng, index="HNSW32", n=500)
    queries = tmp_path / "q.npy"
    np.save(queries, rng.normal(size=(40, DIM)).astype(np.float32))
    outs = [tmp_path / f"r{i}.npz" for i in range(2)]
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, str(s.path), str(queries), str(out)])
        for out in outs
    ]
    assert [r.wait(timeout=60) for r in readers] == [0, 0]
    mine = s.nearest(np.load(queries), k=10)
    for out in outs:
        got = np.load(out)
        np.testing.assert_array_equal(got["ids"], mine.ids)
        np.testing.assert_allclose(got["distances"], mine.distances, atol=1e-6)
        assert got["paths"].tolist() == [f"old{i}" for i in mine.ids.ravel()]
