"""``embed_dataset``: files in, vectors with metadata into a feature store, resumable.

Worker processes read, decode and preprocess one file per item (:mod:`fmood.embed.reader`);
this process groups their frames into model batches, embeds them and hands whole files to
the :class:`~fmood.embed.writer.ChunkWriter`, which commits them in chunks.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from fmood._validation import check_positive_int
from fmood.backbones import Backbone, load
from fmood.embed.reader import EMBED, SKIP, FileDataset, Job, file_loader
from fmood.embed.summary import EmbedSummary, default_failures_path, save_failures
from fmood.embed.writer import (
    FLUSH_EVERY,
    HASHED_PREFIX,
    RESERVED_COLUMNS,
    ChunkWriter,
    open_or_create_for_append,
    path_key,
    remove_if_unused,
    stored_files,
    unstorable,
)
from fmood.errors import FmoodError, InvalidInputError
from fmood.io.dataset import FAILURE_COLUMNS, Record, check_read_options, list_dataset
from fmood.progress import Progress
from fmood.sanitize import printable
from fmood.store import FeatureStore

__all__ = ["default_workers", "embed_dataset"]

_SHOWN = 5


def default_workers() -> int:
    """``min(4, usable CPUs - 1)``: decoding workers that leave one core to the model."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(4, cpus - 1))


def _records(data: str | os.PathLike[str] | Sequence[Record]) -> list[Record]:
    """The dataset as records with absolute paths, checked for repeats and reserved columns."""
    if isinstance(data, (str, os.PathLike)):
        records = list_dataset(data)
    elif isinstance(data, Sequence) and all(isinstance(r, Record) for r in data):
        # Checked just above; mypy's isinstance(Sequence) narrowing brings str back.
        records = list(cast(Sequence[Record], data))
    else:
        raise InvalidInputError(
            f"data must be a folder, a CSV manifest or a list of Record, got {type(data).__name__}"
        )
    if not records:
        raise InvalidInputError("data lists no file to embed")
    records = [Record(os.path.abspath(r.path), dict(r.metadata)) for r in records]
    seen: set[str] = set()
    repeated = []
    for r in records:
        if r.path in seen:
            repeated.append(r.path)
        seen.add(r.path)
    if repeated:
        raise InvalidInputError(
            f"{len(repeated)} file(s) listed more than once: "
            f"{printable(', '.join(repeated[:_SHOWN]))}"
        )
    clash = sorted({c for r in records for c in r.metadata if c in RESERVED_COLUMNS})
    if clash:
        raise InvalidInputError(
            f"the manifest's column(s) {clash} clash with what fmood stores for each vector "
            f"({', '.join(RESERVED_COLUMNS)}); rename them"
        )
    return records


@dataclass
class _File:
    """A decoded file on its way through the model."""

    path: str
    sha256: str
    rows: list[dict[str, Any]]
    pixels: torch.Tensor | None
    vectors: np.ndarray
    done: int = 0

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class _Batcher:
    """Cut the frames of consecutive files into model batches of ``batch_size``.

    A batch may span files; a file is handed to ``finished`` once all its frames are
    embedded, in the order files arrived.
    """

    backbone: Backbone
    batch_size: int
    finished: Callable[[_File], None]
    waiting: deque[_File] = field(default_factory=deque)
    unsent: deque[list[Any]] = field(default_factory=deque)  # [file, first frame not sent]
    n_unsent: int = 0
    n_embedded: int = 0
    pinned: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.backbone.device.type == "cuda":
            # One pinned buffer, reused: embed_batch copies from it asynchronously and
            # returns only after reading the result back, so the copy is done by then.
            size = self.backbone.preprocessing.size
            self.pinned = torch.empty((self.batch_size, 3, size, size), pin_memory=True)

    def push(self, file: _File) -> None:
        self.waiting.append(file)
        self.unsent.append([file, 0])
        self.n_unsent += len(file)
        while self.n_unsent >= self.batch_size:
            self._embed(self.batch_size)

    def drain(self) -> None:
        """Embed every frame still waiting, in a last smaller batch if need be."""
        while self.n_unsent:
            self._embed(min(self.batch_size, self.n_unsent))

    def _embed(self, n: int) -> None:
        parts, owners, need = [], [], n
        while need:
            entry = self.unsent[0]
            file, start = entry
            take = min(need, len(file) - start)
            parts.append(file.pixels[start : start + take])
            owners.append((file, start, take))
            if start + take == len(file):
                self.unsent.popleft()
            else:
                entry[1] += take
            need -= take
        if self.pinned is not None:
            batch = torch.cat(parts, out=self.pinned[:n])
        else:
            batch = parts[0] if len(parts) == 1 else torch.cat(parts)
        vectors = self.backbone.embed_batch(batch)
        self.n_unsent -= n
        self.n_embedded += n
        offset = 0
        for file, start, take in owners:
            file.vectors[start : start + take] = vectors[offset : offset + take]
            file.done += take
            offset += take
            if file.done == len(file):
                file.pixels = None  # free the frames as soon as they are embedded
        while self.waiting and self.waiting[0].done == len(self.waiting[0]):
            self.finished(self.waiting.popleft())


def _loaded(loader: Any) -> Iterator[dict[str, Any]]:
    """The loader's items, with its two environment failures explained."""
    try:
        yield from loader
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "shared memory" in str(exc) or "shm" in str(exc):
            raise FmoodError(
                f"decoding workers ran out of shared memory ({first}); give the container "
                "more (docker run --shm-size=8g or --ipc=host), or decode in this process "
                "with num_workers=0 (fmood embed --workers 0). Files committed so far are "
                "kept; rerun to go on"
            ) from exc
        if "DataLoader worker" in str(exc):
            raise FmoodError(
                f"a decoding worker died ({first}), e.g. a decoder crashed on a file. Files "
                "committed so far are kept; rerun with num_workers=0 (--workers 0) to find "
                "the file (the last one the progress bar reached), then leave it out"
            ) from exc
        raise


def embed_dataset(
    backbone: Backbone | str,
    data: str | os.PathLike[str] | Sequence[Record],
    store: str | os.PathLike[str] | FeatureStore,
    *,
    batch_size: int = 32,
    num_workers: int | None = None,
    strict: bool = False,
    progress: bool = True,
    read_options: Mapping[str, Any] | None = None,
    failures_path: str | os.PathLike[str] | None = None,
    flush_every: int = FLUSH_EVERY,
    store_paths: bool = True,
) -> EmbedSummary:
    """Embed every image of a dataset into a feature store, resuming where a run stopped.

    Parameters
    ----------
    backbone : Backbone or str
        An adapter (``fmood.backbones.load(...)``, a ``ModuleBackbone``), or a name given to
        :func:`fmood.backbones.load` with its defaults.
    data : folder, CSV manifest, or list of Record
        See :func:`fmood.io.dataset.list_dataset`. Manifest columns are stored with every
        vector of their file; they may not be named ``path``, ``frame`` or ``file_sha256``.
    store : path or FeatureStore
        Created when missing (the backbone's dim and fingerprint, metric ``"l2"``);
        otherwise appended to, after checking it holds this backbone's vectors.
    batch_size : int
        Images per forward pass; a batch may hold frames of several files.
    num_workers : int or None
        Decoding processes; None is ``min(4, CPUs - 1)``, 0 decodes in this process.
    strict : bool
        Stop at the first file that cannot be embedded (:class:`InvalidInputError` naming
        it), after committing the files before it.
    progress : bool
        Progress on stderr (:class:`fmood.progress.Progress`): files done of all, images
        embedded, images/s and time left, redrawn on a terminal, else a plain line every
        10 s or 5% of the files. A file counts once its vectors are embedded (or it is
        skipped or failed), never when it is merely read.
    read_options : mapping, optional
        Reader options, each passed to the readers that take it: ``window`` (DICOM: a
        ``CT_WINDOWS`` name or (center, width)), ``axis``, ``stride``, ``max_slices``,
        ``skip_empty``, ``clip_percentiles`` (NIfTI).
    failures_path : path, optional
        Where files that could not be embedded are listed (CSV ``path,error``); default
        ``<store parent>/<store name>.failures.csv``. Written only when some failed; an
        earlier run's file there is replaced (or removed when none failed).
    flush_every : int
        Commit to the store once this many vectors of whole files are waiting.
    store_paths : bool
        Store each file's absolute path (True), or, so that the store does not reveal file
        names (which often hold patient names or ids), ``"sha256:"`` and the SHA-256 of the
        path. Resuming matches the hashes, so a store keeps one mode: a rerun in the other
        is refused. A hash hides a name but confirms a guessed one. The failures file,
        beside the store, still names the files.

    Returns
    -------
    EmbedSummary

    Notes
    -----
    Each vector's metadata: ``path`` (absolute), ``frame`` (frame, page or slice index;
    None for a single image), ``file_sha256``, the manifest's columns, then the reader's
    technical fields (DICOM: modality, manufacturer, model, pixel spacing...; never a
    patient, study, date or institution field). List values are stored as JSON text.

    A file's vectors are committed together, so a crash leaves each file wholly in the
    store or not at all; rerunning skips the files the store holds (hashing them: a file
    whose bytes changed is reported, not embedded twice) and embeds the rest, giving the
    vectors of one uninterrupted run. Unreadable, unsupported, corrupt or empty files are
    failures, not errors: they are listed and the run goes on; so is a file whose name is
    not valid UTF-8 when paths are stored (parquet holds UTF-8 text only). Failures list
    names with control characters and undecodable bytes escaped. Runs started together on
    one store each add only the files the store does not hold at their commit. Read options
    are not part of the store's identity (they are recorded per vector: ``voi``, ``axis``):
    a rerun with another window skips the files already embedded, so embed with new
    options into a new store.

    Raises
    ------
    StoreMismatchError
        The store holds vectors of another backbone, weights, preprocessing or dimension.
    InvalidInputError
        Bad arguments or dataset; with ``strict``, the first file that failed.
    """
    started = time.perf_counter()
    batch_size = check_positive_int(batch_size, "batch_size")
    if num_workers is None:
        num_workers = default_workers()
    elif not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
        raise InvalidInputError(f"num_workers must be an integer >= 0, got {num_workers!r}")
    read_options = check_read_options(read_options)
    records = _records(data)
    if isinstance(backbone, str):
        backbone = load(backbone)
    elif not isinstance(backbone, Backbone):
        raise InvalidInputError(
            f"backbone must be a Backbone or a name, got {type(backbone).__name__}"
        )
    fingerprint = backbone.fingerprint
    opened = open_or_create_for_append(store, backbone.dim, fingerprint, blocks=backbone.blocks)
    target = opened.store
    failures_file = (
        Path(failures_path) if failures_path is not None else default_failures_path(target.path)
    )
    failures: list[dict[str, str]] = []
    writer = ChunkWriter(target, fingerprint, flush_every)
    state = {"skipped": 0, "halted": False}
    keys = {r.path: path_key(r.path, store_paths) for r in records}

    def finished(file: _File) -> None:
        bar.update(1, images=len(file))
        if state["halted"]:  # strict, and an earlier file failed here: add nothing after it
            return
        bad = np.flatnonzero(~np.isfinite(file.vectors).all(axis=1))
        if bad.size:
            frames = [file.rows[i]["frame"] for i in bad[:_SHOWN]]
            state["halted"] = strict
            fail(
                file.path,
                f"{file.path}: the backbone gave NaN or infinite values for "
                f"frame(s) {frames} of {len(file)}",
            )
            return
        writer.add_file(file.vectors, file.rows)

    def fail(path: str, error: str) -> None:
        failures.append({"path": printable(path), "error": printable(error)})
        if strict:
            raise _StrictStop(printable(error))

    try:
        held = stored_files(target)
        _check_path_mode(held, store_paths, target.path)
        jobs = [Job(r, keys[r.path] in held, held.get(keys[r.path])) for r in records]
        dataset = FileDataset(jobs, backbone.preprocessing, read_options)
        workers = min(num_workers, len(jobs))
        batcher = _Batcher(backbone, batch_size, finished)
        bar = Progress("embedding", len(jobs), enabled=progress)
        try:
            with bar:
                for item in _loaded(file_loader(dataset, workers)):
                    if item["status"] == EMBED:
                        rows = [
                            {
                                "path": keys[item["path"]],
                                "frame": row.pop("frame"),
                                "file_sha256": item["sha256"],
                                **row,
                            }
                            for row in item["rows"]
                        ]
                        column = next(filter(None, map(unstorable, rows)), None)
                        if column is not None:
                            bar.update(1)
                            fail(item["path"], _not_utf8(item["path"], column))
                        else:
                            vectors = np.empty((len(rows), backbone.dim), dtype=np.float32)
                            batcher.push(
                                _File(item["path"], item["sha256"], rows, item["pixels"], vectors)
                            )
                    elif item["status"] == SKIP:
                        state["skipped"] += 1
                        bar.update(skipped=1)
                    else:
                        bar.update(1)
                        fail(item["path"], item["error"])
                batcher.drain()
                writer.flush()
        except _StrictStop as stop:
            batcher.drain()  # the files before the bad one are complete: keep them
            writer.flush()
            saved = save_failures(_failures_frame(failures), failures_file)
            raise InvalidInputError(
                f"{stop} (strict: stopped at this file; the store keeps the "
                f"{writer.n_files_added} file(s) embedded before it; failures in {saved})"
            ) from None
        except BaseException:
            with contextlib.suppress(Exception):
                writer.flush()  # every file completed before the error is whole: keep it
            raise
    finally:
        remove_if_unused(opened)
    with contextlib.suppress(FmoodError):  # removed above when nothing was stored
        target.refresh()  # another writer may have added meanwhile
    failures_frame = _failures_frame(failures)
    saved = save_failures(failures_frame, failures_file)
    if isinstance(store, FeatureStore):
        store.refresh()
    seconds = time.perf_counter() - started
    return EmbedSummary(
        store=target.path,
        backbone=backbone.name,
        n_files=len(records),
        n_embedded_files=writer.n_files_added,
        n_images=writer.n_added,
        n_skipped_files=state["skipped"] + writer.n_files_skipped,
        n_failed_files=len(failures),
        failures_path=saved,
        seconds=seconds,
        images_per_second=writer.n_added / seconds if seconds > 0 else 0.0,
        n_stored=len(target),
        failures=failures_frame,
    )


class _StrictStop(Exception):
    """The first failure of a strict run (turned into InvalidInputError once committed)."""


def _not_utf8(path: str, column: str) -> str:
    """Why a file whose metadata ``column`` is not UTF-8 text cannot be stored."""
    if column == "path":
        return (
            f"{path}: the file name is not valid UTF-8, which the store cannot hold; "
            "rename the file, or embed with --no-paths (store_paths=False)"
        )
    return f"{path}: its {column!r} is not valid UTF-8 text, which the store cannot hold"


def _check_path_mode(held: Mapping[str, object], store_paths: bool, store: Path) -> None:
    """Refuse to add paths to a store of hashed paths, or the reverse: resume would miss."""
    if not held:
        return
    hashed = next(iter(held)).startswith(HASHED_PREFIX)
    if hashed and store_paths:
        raise InvalidInputError(
            f"the store at {store} holds hashed paths (embedded with --no-paths, "
            "store_paths=False); rerun with --no-paths, or embed into a new store"
        )
    if not hashed and not store_paths:
        raise InvalidInputError(
            f"the store at {store} holds paths in the clear; rerun without --no-paths "
            "(store_paths=True), or embed into a new store to keep paths out of it"
        )


def _failures_frame(failures: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(failures, columns=list(FAILURE_COLUMNS))
