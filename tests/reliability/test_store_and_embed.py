"""Store and embedding under a hostile tester: concurrent writers, odd file names, tampered
stores, private paths."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from embed.helpers import FRAMES, make_folder, n_frames, tiny_backbone

import fmood.embed.pipeline as pipeline
from fmood.embed import embed_dataset
from fmood.errors import InvalidInputError, StoreCorruptError
from fmood.io.dataset import Record
from fmood.sanitize import printable
from fmood.store import FeatureStore

TESTS = Path(__file__).resolve().parents[1]


def _run(data, store, **kwargs):
    kwargs.setdefault("num_workers", 0)
    kwargs.setdefault("progress", False)
    return embed_dataset(tiny_backbone(), data, store, **kwargs)


# ------------------------------------------------------------ concurrent writers

# Embeds FOLDER into STORE; both runs meet right after reading what the store holds, so
# each starts believing the store empty, as two runs started together do.
WRITER = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from embed.helpers import tiny_backbone
import fmood.embed.pipeline as pipeline
from fmood.embed import embed_dataset

tests, folder, store, me, other = sys.argv[1:]
real = pipeline.stored_files

def meet(target):
    held = real(target)
    open(me, "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(other) and time.monotonic() < deadline:
        time.sleep(0.01)
    return held

pipeline.stored_files = meet
summary = embed_dataset(tiny_backbone(), folder, store, num_workers=0, progress=False,
                        flush_every=2, batch_size=2)
print(summary.n_images, summary.n_embedded_files, summary.n_skipped_files)
"""


def test_two_concurrent_runs_store_each_file_once(tmp_path):
    folder = make_folder(tmp_path / "data", bad=False)
    store = tmp_path / "store"
    FeatureStore.create(store, 8, tiny_backbone().fingerprint, metric="l2")
    flags = [str(tmp_path / "a.ready"), str(tmp_path / "b.ready")]
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(TESTS), str(folder), str(store), me, other],
            stdout=subprocess.PIPE,
            text=True,
        )
        for me, other in (flags, flags[::-1])
    ]
    outs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    paths = FeatureStore.open(store).metadata["path"]
    assert len(paths) == n_frames()  # was 2 * n_frames(): every file stored by both runs
    counts = paths.map(os.path.basename).value_counts()
    assert counts.to_dict() == FRAMES
    counted = np.array([[int(v) for v in out.split()] for out in outs])
    images, files, _ = counted.sum(axis=0)
    assert (images, files) == (n_frames(), len(FRAMES))  # each run counts only what it added
    assert (counted[:, 1] + counted[:, 2]).tolist() == [len(FRAMES)] * 2  # the rest: skipped


def test_a_run_whose_files_all_fail_keeps_what_another_writer_committed(tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.png").write_bytes(b"")
    store = tmp_path / "store"
    real = pipeline.file_loader

    def another_writer_commits(dataset, workers):
        # The store this run just created gets a vector from another process meanwhile.
        other = FeatureStore.open(store, mode="a")
        other.add(
            np.ones((1, 8)), {"path": ["/elsewhere/x.png"]}, fingerprint=tiny_backbone().fingerprint
        )
        return real(dataset, workers)

    monkeypatch.setattr(pipeline, "file_loader", another_writer_commits)
    summary = _run(bad, store)
    assert summary.n_failed_files == 1 and summary.n_stored == 1
    assert FeatureStore.open(store).metadata["path"].tolist() == ["/elsewhere/x.png"]


# ------------------------------------------------------------ non-UTF-8 file names


def _bad_name_folder(tmp_path: Path) -> tuple[Path, str]:
    folder = make_folder(tmp_path / "data", bad=False)
    odd = os.fsdecode(os.fsencode(str(folder)) + b"/scan\xff.png")
    shutil.copy(folder / "a.png", odd)
    return folder, odd


def test_a_non_utf8_file_name_fails_alone_and_reruns_go_on(tmp_path):
    folder, odd = _bad_name_folder(tmp_path)
    summary = _run(folder, tmp_path / "store", flush_every=100)
    assert (summary.n_embedded_files, summary.n_failed_files) == (len(FRAMES), 1)
    assert summary.n_images == n_frames()
    failures = pd.read_csv(summary.failures_path)
    assert failures["path"].tolist() == [printable(odd)]
    assert "\\udcff" in failures["error"].iloc[0] and "UTF-8" in failures["error"].iloc[0]
    assert "\\udcff" in str(summary)
    again = _run(folder, tmp_path / "store")
    assert (again.n_skipped_files, again.n_failed_files, again.n_images) == (len(FRAMES), 1, 0)


def test_a_non_utf8_file_name_is_embedded_when_paths_are_hashed(tmp_path):
    folder, _ = _bad_name_folder(tmp_path)
    summary = _run(folder, tmp_path / "store", store_paths=False)
    assert (summary.n_embedded_files, summary.n_failed_files) == (len(FRAMES) + 1, 0)
    again = _run(folder, tmp_path / "store", store_paths=False)
    assert (again.n_skipped_files, again.n_images) == (len(FRAMES) + 1, 0)


# ------------------------------------------------------------ tampered stores


@pytest.fixture
def two_part_store(tmp_path):
    store = FeatureStore.create(tmp_path / "s", 16, metric="l2")
    rng = np.random.default_rng(0)
    for part in range(2):
        store.add(rng.normal(size=(10, 16)), {"path": [f"p{part}_{i}.png" for i in range(10)]})
    return store.path


def _edit_manifest(path: Path, **changes) -> None:
    raw = json.loads((path / "manifest.json").read_text())
    raw.update(changes)
    (path / "manifest.json").write_text(json.dumps(raw))


def test_an_edited_dim_is_caught_on_open(two_part_store):
    _edit_manifest(two_part_store, dim=8)  # the vectors file is now long enough for 40 rows
    with pytest.raises(StoreCorruptError, match=r"vectors\.f32.*restore"):
        FeatureStore.open(two_part_store)


def test_swapped_metadata_parts_are_caught_by_verify(two_part_store):
    meta = two_part_store / "metadata"
    os.replace(meta / "part-000000.parquet", meta / "swap")
    os.replace(meta / "part-000001.parquet", meta / "part-000000.parquet")
    os.replace(meta / "swap", meta / "part-000001.parquet")
    with pytest.raises(StoreCorruptError, match=r"part-00000[01]\.parquet.*sha256"):
        FeatureStore.open(two_part_store).verify()


def test_flipped_vector_bytes_are_caught_by_verify(two_part_store):
    FeatureStore.open(two_part_store).verify()
    with open(two_part_store / "vectors.f32", "r+b") as f:
        f.seek(15 * 16 * 4 + 3)
        f.write(b"\x7f")
    with pytest.raises(StoreCorruptError, match=r"vectors\.f32: rows 10 to 20 .*sha256"):
        FeatureStore.open(two_part_store).verify()


def test_a_store_without_checksums_opens_and_says_it_is_unchecked(two_part_store):
    raw = json.loads((two_part_store / "manifest.json").read_text())
    raw.pop("checksums")
    (two_part_store / "manifest.json").write_text(json.dumps(raw))
    store = FeatureStore.open(two_part_store)
    assert len(store) == 20
    notes = store.verify()
    assert any("no checksum" in note for note in notes)


# ------------------------------------------------------------ --no-paths


def test_no_paths_stores_hashes_and_resumes(tmp_path):
    folder = make_folder(tmp_path / "data", bad=False)
    summary = _run(folder, tmp_path / "store", store_paths=False, flush_every=3)
    assert summary.n_embedded_files == len(FRAMES)
    paths = FeatureStore.open(tmp_path / "store").metadata["path"]
    assert paths.str.fullmatch(r"sha256:[0-9a-f]{64}").all()
    for file in (tmp_path / "store").rglob("*"):
        if file.is_file():
            content = file.read_bytes()
            assert not any(name.encode() in content for name in FRAMES), file
            assert str(folder).encode() not in content
    again = _run(folder, tmp_path / "store", store_paths=False)
    assert (again.n_skipped_files, again.n_images) == (len(FRAMES), 0)


def test_paths_and_hashed_paths_do_not_mix_in_one_store(tmp_path):
    folder = make_folder(tmp_path / "data", bad=False)
    _run(folder, tmp_path / "store", store_paths=False)
    with pytest.raises(InvalidInputError, match="hashed.*--no-paths"):
        _run(folder, tmp_path / "store")
    _run(folder, tmp_path / "plain")
    with pytest.raises(InvalidInputError, match="paths in the clear"):
        _run([Record(str(folder / "a.png"), {})], tmp_path / "plain", store_paths=False)


# ------------------------------------------------------------ planted temporary files


def test_a_symlink_planted_at_the_failures_temp_name_is_not_followed(tmp_path):
    """Regression: failures.csv was written through ``STORE.failures.csv.tmp``, a fixed name
    that followed a planted symlink and overwrote its target."""
    folder = make_folder(tmp_path / "data")  # holds unreadable files: a failures file is due
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    store = tmp_path / "store"
    (tmp_path / "store.failures.csv.tmp").symlink_to(victim)
    summary = _run(folder, store)
    assert summary.n_failed_files > 0 and summary.failures_path.is_file()
    assert victim.read_text() == "precious"
