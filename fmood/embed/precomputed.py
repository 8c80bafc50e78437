"""``embed_precomputed``: embeddings made elsewhere into a feature store, resumable."""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np
import pandas as pd

from fmood.backbones.precomputed import PRECOMPUTED, load_precomputed
from fmood.embed.summary import EmbedSummary
from fmood.embed.writer import (
    FLUSH_EVERY,
    ChunkWriter,
    open_or_create_for_append,
    remove_if_unused,
)
from fmood.errors import FmoodError
from fmood.progress import Progress
from fmood.store import FeatureStore

__all__ = ["embed_precomputed"]


def _stored_keys(store: FeatureStore, frames: bool) -> set[tuple[object, ...]]:
    """(absolute path,) or (absolute path, frame) of every vector the store holds."""
    if len(store) == 0:
        return set()
    meta = store.metadata
    paths = [os.path.abspath(p) if isinstance(p, str) else None for p in meta["path"]]
    if not frames:
        return {(p,) for p in paths}
    column = meta["frame"] if "frame" in meta.columns else [None] * len(meta)
    return {(p, None if pd.isna(f) else int(f)) for p, f in zip(paths, column, strict=True)}


def embed_precomputed(
    vectors_npy: str | os.PathLike[str],
    manifest_csv: str | os.PathLike[str],
    store: str | os.PathLike[str] | FeatureStore,
    name: str = PRECOMPUTED,
    *,
    progress: bool = True,
    flush_every: int = FLUSH_EVERY,
) -> EmbedSummary:
    """Add vectors computed elsewhere to a feature store, with their manifest's metadata.

    Parameters
    ----------
    vectors_npy : path
        ``.npy`` of shape (n, dim), loaded with ``allow_pickle=False``, memory-mapped.
    manifest_csv : path
        n rows aligned with the vectors: ``path`` plus metadata (``frame`` optional); see
        :func:`fmood.backbones.precomputed.load_precomputed`.
    store : path or FeatureStore
        Created when missing (metric ``"l2"``); an existing one must hold vectors of this
        same ``.npy`` file (fingerprint ``precomputed:<name>``, weights hash = the file's
        SHA-256), else :class:`StoreMismatchError`.
    name : str
        The model's name in the fingerprint.
    progress : bool
        A progress bar over rows (on a terminal only).
    flush_every : int
        Rows per atomic commit.

    Returns
    -------
    EmbedSummary
        Files are manifest rows here; rows already in the store (same path, and frame when
        the manifest has one) are skipped, so a rerun after a crash completes the store.

    Raises
    ------
    InvalidInputError
        See ``load_precomputed``; all checks run before anything is written.
    StoreMismatchError
        The store holds other vectors.
    """
    started = time.perf_counter()
    loaded = load_precomputed(vectors_npy, manifest_csv, name)
    opened = open_or_create_for_append(store, loaded.dim, loaded.fingerprint)
    keys = ("path", "frame") if loaded.frames else ("path",)
    writer = ChunkWriter(opened.store, loaded.fingerprint, flush_every, skip_stored=keys)
    try:
        held = _stored_keys(opened.store, loaded.frames)
        todo = [
            i
            for i, r in enumerate(loaded.records)
            if ((r.path, r.metadata["frame"]) if loaded.frames else (r.path,)) not in held
        ]
        bar = Progress("adding", len(todo), unit="rows", enabled=progress)
        for start in range(0, len(todo), flush_every):
            rows = todo[start : start + flush_every]
            vectors = np.asarray(loaded.vectors[rows], dtype=np.float32)
            records = [loaded.records[i] for i in rows]
            metadata = [{"path": r.path, **r.metadata} for r in records]
            writer.add_file(vectors, metadata)
            bar.update(len(rows), images=len(rows))
        writer.flush()
        bar.close()
    finally:
        remove_if_unused(opened)
    if isinstance(store, FeatureStore):
        store.refresh()
    with contextlib.suppress(FmoodError):  # removed above when nothing was stored
        opened.store.refresh()  # another writer may have added meanwhile
    seconds = time.perf_counter() - started
    return EmbedSummary(
        store=opened.store.path,
        backbone=loaded.name,
        n_files=len(loaded.records),
        n_embedded_files=writer.n_added,
        n_images=writer.n_added,
        n_skipped_files=len(loaded.records) - writer.n_added,
        n_failed_files=0,
        failures_path=None,
        seconds=seconds,
        images_per_second=writer.n_added / seconds if seconds > 0 else 0.0,
        n_stored=len(opened.store),
    )
