"""What an embedding run did, and the failures file it leaves next to the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fmood.io.dataset import FAILURE_COLUMNS, write_failures
from fmood.sanitize import csv_safe, printable_table

FAILURES_SUFFIX = ".failures.csv"


def default_failures_path(store: str | Path) -> Path:
    """``<store parent>/<store name>.failures.csv``.

    Beside the store, not in it: a store directory holds only what its manifest lists (a
    writer deletes stray temporary files there), and this file describes a run, not vectors.
    """
    store = Path(store).absolute()
    return store.with_name(store.name + FAILURES_SUFFIX)


def _is_failures_file(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().strip() == ",".join(FAILURE_COLUMNS)
    except (OSError, UnicodeDecodeError):
        return False


def save_failures(failures: pd.DataFrame, path: Path) -> Path | None:
    """Write ``failures`` to ``path``, replacing an older run's file; return the path.

    With no failures an older run's file at ``path`` is removed (it would describe files
    that may be fine now) and None is returned; any other file there is left alone.
    Names are written escaped (:func:`fmood.sanitize.printable`: a name that is not UTF-8
    cannot be written otherwise) and no cell can run as a spreadsheet formula
    (:func:`fmood.sanitize.csv_safe`).
    """
    if len(failures):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_failures(csv_safe(printable_table(failures.astype(object))), path)
        return path
    if path.is_file() and _is_failures_file(path):
        path.unlink()
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@dataclass
class EmbedSummary:
    """What one :func:`fmood.embed.embed_dataset` or ``embed_precomputed`` run did.

    Attributes
    ----------
    store : Path
        The feature store written to.
    backbone : str
        Name of the backbone the vectors came from.
    n_files : int
        Files (or precomputed rows) in the dataset.
    n_embedded_files : int
        Files whose vectors this run added.
    n_images : int
        Vectors this run added (a multi-frame file or a volume gives several).
    n_skipped_files : int
        Files already in the store, unchanged, so not embedded again.
    n_failed_files : int
        Files that could not be embedded; listed in ``failures``.
    failures_path : Path or None
        The CSV (``path``, ``error``) the failures were written to; None without failures.
    seconds : float
        Wall-clock time of the run.
    images_per_second : float
        ``n_images / seconds``.
    n_stored : int
        Vectors the store holds after the run.
    failures : DataFrame with columns ``path``, ``error``
    """

    store: Path
    backbone: str
    n_files: int
    n_embedded_files: int
    n_images: int
    n_skipped_files: int
    n_failed_files: int
    failures_path: Path | None
    seconds: float
    images_per_second: float
    n_stored: int
    failures: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(FAILURE_COLUMNS)), repr=False
    )

    def __str__(self) -> str:
        if self.n_images:
            done = (
                f"Embedded {_plural(self.n_images, 'image')} from {self.n_embedded_files} of "
                f"{_plural(self.n_files, 'file')} with {self.backbone} into {self.store} in "
                f"{self.seconds:.1f} s ({self.images_per_second:.1f} images/s)"
            )
        else:
            done = (
                f"Embedded nothing new from {_plural(self.n_files, 'file')} with "
                f"{self.backbone} into {self.store} ({self.seconds:.1f} s)"
            )
        text = f"{done}; the store now holds {_plural(self.n_stored, 'vector')}."
        if self.n_skipped_files:
            text += (
                f" {_plural(self.n_skipped_files, 'file')} already in the store "
                f"{'was' if self.n_skipped_files == 1 else 'were'} skipped."
            )
        if self.n_failed_files:
            first = self.failures["error"].iloc[0] if len(self.failures) else ""
            text += (
                f" {_plural(self.n_failed_files, 'file')} could not be embedded "
                f"(listed in {self.failures_path}; first: {first})."
            )
        else:
            text += " No file failed."
        return text
