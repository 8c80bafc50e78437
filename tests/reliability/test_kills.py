"""Writers SIGKILLed at random points: the store opens, verifies, and a resume completes it
to exactly what an uninterrupted run writes.

One server process imports fmood, torch and the test backbone once, then forks a writer per
run (a fork starts in milliseconds, a fresh interpreter in seconds) and kills it after a
random delay, so dozens of kills fit in a few seconds.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from embed.helpers import make_folder

from fmood.store import FeatureStore

TESTS = Path(__file__).resolve().parents[1]
KILLS_PER_MODE = 12

# Commands on stdin, one per line: "MODE STORE DATA DELAY". Forks a writer, kills it with
# SIGKILL once DELAY seconds have passed, answers "killed" or "exit CODE SECONDS".
SERVER = """
import os, signal, sys, time, traceback
sys.path.insert(0, sys.argv[1])
import numpy as np
import torch
from embed.helpers import tiny_backbone
from fmood.embed import embed_dataset
from fmood.store import FeatureStore

CHUNKS = [1, 7, 2, 30, 5, 64, 3, 11, 40, 9]  # rows per add: 172 in all

def embed(store, data):
    torch.set_num_threads(1)
    embed_dataset(tiny_backbone(), data, store, num_workers=0, progress=False,
                  batch_size=1, flush_every=1)

def add(store, data):
    s = FeatureStore.create(store, 8, index="HNSW32", metric="l2", exist_ok=True)
    X = np.random.default_rng(0).normal(size=(sum(CHUNKS), 8)).astype(np.float32)
    start = 0
    for n in CHUNKS:
        rows = range(start, start + n)
        s.add(X[start:start + n], {"path": [f"item{i}" for i in rows], "chunk": [n] * n},
              skip_stored="path")
        start += n

for line in sys.stdin:
    mode, store, data, delay = line.split()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            {"embed": embed, "add": add}[mode](store, data)
            code = 0
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    deadline = started + float(delay)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print("exit", os.waitstatus_to_exitcode(status), time.monotonic() - started,
                  flush=True)
            break
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print("killed", flush=True)
            break
        time.sleep(0.0005)
"""


class Writers:
    """The server: ``run`` forks one writer and says whether it was killed."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(TESTS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, mode: str, store: Path, data: Path, delay: float) -> tuple[bool, float]:
        self.process.stdin.write(f"{mode} {store} {data} {delay}\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().split()
        assert answer, "the writer server died"
        if answer[0] == "killed":
            return True, 0.0
        assert answer[1] == "0", f"an uninterrupted {mode} run failed"
        return False, float(answer[2])

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


def _contents(store: FeatureStore) -> tuple[np.ndarray, pd.DataFrame]:
    return np.asarray(store.embeddings), store.metadata


def _check_prefix_of(path: Path, reference: FeatureStore) -> int:
    """After a kill: the store opens, verifies, and holds a prefix of the reference."""
    if not (path / "manifest.json").exists():
        return 0  # killed while creating it: nothing was committed
    store = FeatureStore.open(path)
    store.verify()
    n = len(store)
    X, meta = _contents(reference)
    np.testing.assert_array_equal(store.embeddings, X[:n])
    got = store.metadata  # columns appear with the first file that has them
    pd.testing.assert_frame_equal(got, meta.iloc[:n][got.columns], check_dtype=False)
    if n > 1:
        assert store.nearest(store.embeddings[:5], k=1).ids[:, 0].tolist() == list(range(min(n, 5)))
    return n


@pytest.mark.parametrize("mode", ["embed", "add"])
def test_randomly_killed_writers_resume_to_an_uninterrupted_run(tmp_path, mode):
    data = make_folder(tmp_path / "data", bad=False)
    writers = Writers()
    try:
        killed, seconds = writers.run(mode, tmp_path / "reference", data, 600)
        assert not killed
        reference = FeatureStore.open(tmp_path / "reference")
        reference.verify()
        rng = random.Random(0)
        kills, rounds, seen = 0, 0, set()
        store = tmp_path / "store0"
        for _ in range(20 * KILLS_PER_MODE):
            if kills >= KILLS_PER_MODE:
                break
            killed, _ = writers.run(mode, store, data, rng.uniform(0, seconds))
            if killed:
                kills += 1
                seen.add(_check_prefix_of(store, reference))
                continue
            # Finished: a resume after the kills gave exactly the uninterrupted run.
            done = FeatureStore.open(store)
            assert done.verify() == []
            np.testing.assert_array_equal(done.embeddings, reference.embeddings)
            pd.testing.assert_frame_equal(done.metadata, reference.metadata)
            rounds += 1
            store = tmp_path / f"store{rounds}"
        killed, _ = writers.run(mode, store, data, 600)  # resume the last round to the end
        assert not killed
        done = FeatureStore.open(store)
        assert done.verify() == []
        np.testing.assert_array_equal(done.embeddings, reference.embeddings)
        pd.testing.assert_frame_equal(done.metadata, reference.metadata)
    finally:
        writers.close()
    assert kills >= KILLS_PER_MODE
    print(
        f"{mode}: {kills} kills survived, {rounds + 1} resumed stores, "
        f"kill points at {sorted(seen)} stored rows"
    )
