"""Decoding in DataLoader workers: one item per file, its frames preprocessed, or why not.

A worker never raises for a bad file: it returns the one-line reason, so one corrupt scan
costs one failure row, not the run (a raising worker would take the DataLoader down).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from fmood.backbones.preprocessing import Preprocessing
from fmood.io.dataset import READ_ERRORS, Record, file_sha256, one_line, read_record

#: Item statuses.
EMBED, SKIP, FAIL = "embed", "skip", "fail"
CHANGED = "changed since it was embedded into this store; use a new store to embed the new version"


@dataclass(frozen=True)
class Job:
    """One file to read, and what the store already holds of it.

    ``record.path`` is absolute. For a file the store holds (``stored``), the worker only
    hashes it, to tell an unchanged file (skipped) from a changed one; a stored hash of
    None (vectors added without one) counts as unchanged.
    """

    record: Record
    stored: bool = False
    stored_sha256: str | None = None

    @property
    def path(self) -> str:
        return self.record.path


class FileDataset(Dataset):
    """Files as DataLoader items, decoded and preprocessed where the item is made.

    Each item is a dict with ``path``, ``status`` (``"embed"``, ``"skip"`` or ``"fail"``),
    ``error`` (one line, for ``"fail"``), ``sha256``, ``pixels`` (a float32 tensor of shape
    (n_frames, 3, size, size), for ``"embed"``) and ``rows`` (one metadata dict per frame:
    ``frame``, then the manifest's columns, then the reader's fields).

    Parameters
    ----------
    jobs : sequence of Job
    preprocessing : Preprocessing
        The backbone's; picklable, so workers get their own copy.
    read_options : mapping
        Passed to :func:`fmood.io.dataset.read_record`.
    """

    def __init__(
        self, jobs: Sequence[Job], preprocessing: Preprocessing, read_options: Mapping[str, Any]
    ) -> None:
        self.jobs = list(jobs)
        self.preprocessing = preprocessing
        self.read_options = dict(read_options)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        job = self.jobs[index]
        item: dict[str, Any] = {"path": job.path, "status": FAIL, "error": None, "sha256": None}
        try:
            item["sha256"] = sha = file_sha256(job.path)
            if job.stored:
                if job.stored_sha256 is not None and job.stored_sha256 != sha:
                    item["error"] = f"{job.path}: {CHANGED}"
                    return item
                item["status"] = SKIP
                return item
            images = read_record(job.record, **self.read_options)
            if not images:
                item["error"] = f"{job.path}: holds no image to embed (every slice empty?)"
                return item
            item["pixels"] = torch.stack([self.preprocessing(image.pixels) for image in images])
        except OSError as exc:
            reason = exc.strerror if exc.strerror and exc.filename else one_line(exc)
            item["error"] = _naming(job.path, reason)
            return item
        except READ_ERRORS as exc:
            item["error"] = _naming(job.path, one_line(exc))
            return item
        except Exception as exc:
            item["error"] = _naming(job.path, f"unexpected {type(exc).__name__}: {one_line(exc)}")
            return item
        item["rows"] = [{"frame": image.frame, **image.metadata} for image in images]
        item["status"] = EMBED
        return item


def _naming(path: str, message: str) -> str:
    """The message, prefixed with the path unless the reader already put it first."""
    return message if message.startswith(f"{path}:") else f"{path}: {message}"


def _keep(item: dict[str, Any]) -> dict[str, Any]:
    """Collate that leaves the item's Python objects as they are."""
    return item


def _single_thread(_: int) -> None:
    # Workers each resize on one core: N workers x N torch threads would oversubscribe.
    torch.set_num_threads(1)


def file_loader(dataset: FileDataset, num_workers: int, prefetch_factor: int = 2) -> DataLoader:
    """A DataLoader over ``dataset`` in order, ``num_workers`` processes (0: in this one)."""
    return DataLoader(
        dataset,
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        # torch types collate_fn as taking a list; with batch_size=None it gets one item.
        collate_fn=_keep,  # type: ignore[arg-type]
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        persistent_workers=False,
        worker_init_fn=_single_thread if num_workers > 0 else None,
    )
