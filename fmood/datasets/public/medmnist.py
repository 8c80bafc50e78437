"""Read MedMNIST and MedMNIST-C ``.npz`` files that the user downloaded, and export them as PNGs.

Formats (read from the ``medmnist`` 3.0.2 and ``medmnistc`` 0.1.0 package sources):

* **MedMNIST** v2 / v3 (MedMNIST+), Yang et al., Sci. Data 2023: one file per 2-D dataset and
  size, ``<flag>.npz`` (28 x 28) or ``<flag>_<size>.npz`` (64, 128, 224), e.g.
  ``pathmnist_64.npz``, holding ``train_images``, ``train_labels``, ``val_images``,
  ``val_labels``, ``test_images`` and ``test_labels``. Images are uint8 of shape (N, H, W)
  (grey) or (N, H, W, 3) (RGB); labels are integers of shape (N, 1), or (N, L) for the
  multi-label ChestMNIST (L = 14). The 3-D datasets (``<flag>3d``, shape (N, D, H, W)) are
  not read: fmood embeds 2-D images.
* **MedMNIST-C**, Di Salvo, Doerrich & Ledig (arXiv:2406.17536): one file per dataset and
  corruption, ``<dataset>/<corruption>.npz`` (e.g. ``pathmnist/jpeg_compression.npz``), made
  from the 224 x 224 test split by ``medmnistc.dataset_manager.DatasetManager``, holding only
  ``test_images`` and ``test_labels``. The five severities are not stored as a key: the file
  holds the whole test set five times, severity 1 first, so severity ``s`` is rows
  ``(s - 1) * N`` to ``s * N`` of its ``5 N``. Grey datasets are stored (5N, H, W), RGB ones
  (5N, H, W, 3). The corruption names are the file names; they differ per dataset (see
  ``medmnistc/corruptions/registry.py``).

Every file is opened with ``np.load(path, allow_pickle=False)``: an array of Python objects
is refused, never unpickled. Nothing is downloaded.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image as PILImage
from tqdm.auto import tqdm

from fmood.errors import InvalidInputError
from fmood.utils.atomic import exclusive_lock, staged_directory

SPLITS = ("train", "val", "test")
#: MedMNIST-C severities, stored in this order in each corruption file.
SEVERITIES = (1, 2, 3, 4, 5)
MANIFEST = "manifest.csv"

MEDMNIST_SOURCE = (
    "MedMNIST files are not downloaded by fmood: get <flag>.npz or <flag>_<size>.npz from "
    "https://medmnist.com (Zenodo record https://doi.org/10.5281/zenodo.10519652)"
)
MEDMNIST_C_SOURCE = (
    "MedMNIST-C files are not downloaded by fmood: get <dataset>/<corruption>.npz from "
    "https://zenodo.org/records/11471504 (every dataset but TissueMNIST-C) or make them with "
    "the medmnistc package (https://github.com/francescodisalvo05/medmnistc-api)"
)
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


@dataclass(frozen=True, eq=False)
class MedMNISTSplit:
    """Images of one MedMNIST split, or of one MedMNIST-C corruption at one severity.

    Attributes
    ----------
    images : ndarray of shape (N, H, W) or (N, H, W, 3), uint8
        Grey or RGB images, as stored.
    labels : ndarray of shape (N, L), integer
        Class labels as stored (L = 1, or the number of labels of a multi-label dataset).
    metadata : DataFrame with N rows
        ``dataset`` (the file name without ``.npz``; the folder name for MedMNIST-C),
        ``split``, ``index`` (row in the split; for MedMNIST-C the row in the clean test set,
        the same for every severity), ``label`` (an int, or the labels joined by ``,`` for a
        multi-label dataset), and for MedMNIST-C ``corruption`` and ``severity`` (1-5).
    source : Path
        The ``.npz`` file.
    """

    images: np.ndarray
    labels: np.ndarray
    metadata: pd.DataFrame
    source: Path


def _existing(path: str | os.PathLike[str], where: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file or folder; {where}")
    return path


def _open_npz(path: Path) -> np.lib.npyio.NpzFile:
    # Checked first: np.load takes any other file for a pickle and says how to unpickle it.
    if not zipfile.is_zipfile(path):
        raise InvalidInputError(
            f"{path}: not an .npz archive (no zip structure: truncated, or not written by "
            "np.savez / np.savez_compressed)"
        )
    try:
        return np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise InvalidInputError(f"{path}: not a readable .npz archive ({exc})") from exc


def _read_key(npz: np.lib.npyio.NpzFile, path: Path, key: str) -> np.ndarray:
    try:
        return npz[key]
    except _READ_ERRORS as exc:
        raise InvalidInputError(
            f"{path}: {key!r} is not a readable numeric array ({exc}); fmood reads .npz files "
            "without unpickling (allow_pickle=False)"
        ) from exc


def _read_arrays(
    path: Path, required: Sequence[str], read: Sequence[str], hint: str = ""
) -> list[np.ndarray]:
    """The arrays ``read`` of the ``.npz`` file ``path``, which must hold ``required``.

    Only the arrays read are decompressed; nothing is ever unpickled.
    """
    with _open_npz(path) as npz:
        missing = [k for k in required if k not in npz.files]
        if missing:
            raise InvalidInputError(
                f"{path}: missing key(s) {missing}; it has {sorted(npz.files)}{hint}"
            )
        return [_read_key(npz, path, key) for key in read]


def _checked(path: Path, images: np.ndarray, labels: np.ndarray, split: str) -> np.ndarray:
    """``labels`` as (N, L) after checking both arrays; raises naming ``path`` and the keys."""
    if images.dtype != np.uint8 or not (
        images.ndim == 3 or (images.ndim == 4 and images.shape[3] == 3)
    ):
        volume = " (a 3-D MedMNIST volume? fmood reads 2-D images)" if images.ndim == 4 else ""
        raise InvalidInputError(
            f"{path}: {split}_images must be uint8 of shape (N, H, W) or (N, H, W, 3), got "
            f"{images.dtype} of shape {images.shape}{volume}"
        )
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise InvalidInputError(
            f"{path}: {split}_labels must be integers of shape (N,) or (N, L), got "
            f"{labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise InvalidInputError(
            f"{path}: {len(images)} {split}_images but {len(labels)} {split}_labels; the counts "
            "must match"
        )
    if len(images) == 0:
        raise InvalidInputError(f"{path}: {split}_images holds no image")
    return labels


def _label_column(labels: np.ndarray) -> list[int] | list[str]:
    if labels.shape[1] == 1:
        return labels[:, 0].astype(np.int64).tolist()
    return [",".join(map(str, row)) for row in labels.tolist()]


def _metadata(dataset: str, split: str, labels: np.ndarray, **extra: object) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "dataset": dataset,
            "split": split,
            "index": np.arange(len(labels)),
            "label": _label_column(labels),
        }
    )
    for column, value in extra.items():
        table[column] = value
    return table


def load_medmnist(path: str | os.PathLike[str], split: str = "test") -> MedMNISTSplit:
    """Read one split of a MedMNIST ``.npz`` file.

    Parameters
    ----------
    path : path
        ``<flag>.npz`` or ``<flag>_<size>.npz`` as downloaded (e.g. ``pathmnist_64.npz``).
    split : {"train", "val", "test"}

    Returns
    -------
    MedMNISTSplit
        ``metadata`` columns ``dataset, split, index, label``.

    Raises
    ------
    InvalidInputError
        No such file (the message says where to get it), not an ``.npz`` archive, one of the
        six MedMNIST keys missing, an array of Python objects, images that are not uint8
        (N, H, W) or (N, H, W, 3), or image and label counts that differ.
    """
    if split not in SPLITS:
        raise InvalidInputError(f"split must be one of {SPLITS}, got {split!r}")
    path = _existing(path, MEDMNIST_SOURCE)
    # All six keys are required, so a MedMNIST-C file (test keys only, the test set five
    # times) is not taken for a MedMNIST one; only this split's two arrays are decompressed.
    images, labels = _read_arrays(
        path,
        [f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels")],
        [f"{split}_images", f"{split}_labels"],
        "; a MedMNIST-C file (test keys only) is read with iter_medmnist_c",
    )
    labels = _checked(path, images, labels, split)
    return MedMNISTSplit(images, labels, _metadata(path.stem, split, labels), path)


def _check_severities(severities: Iterable[int]) -> tuple[int, ...]:
    severities = tuple(severities)
    bad = [s for s in severities if isinstance(s, bool) or s not in SEVERITIES]
    if bad or not severities:
        raise InvalidInputError(f"severities must be some of {SEVERITIES}, got {severities}")
    return severities


def _corruption_files(path: Path, corruptions: Iterable[str] | None) -> list[Path]:
    files = sorted(p for p in path.glob("*.npz") if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise InvalidInputError(
            f"{path}: no <corruption>.npz file in this folder; {MEDMNIST_C_SOURCE}"
        )
    if corruptions is None:
        return files
    by_name = {f.stem: f for f in files}
    corruptions = list(corruptions)
    unknown = [c for c in corruptions if c not in by_name]
    if unknown:
        raise InvalidInputError(
            f"{path}: no corruption file for {unknown}; found {sorted(by_name)}"
        )
    return [by_name[c] for c in corruptions]


def _severity_splits(path: Path, severities: tuple[int, ...]) -> Iterator[MedMNISTSplit]:
    keys = ["test_images", "test_labels"]
    images, labels = _read_arrays(path, keys, keys)
    labels = _checked(path, images, labels, "test")
    n, rest = divmod(len(images), len(SEVERITIES))
    blocks = None if rest else labels.reshape(len(SEVERITIES), n, labels.shape[1])
    if blocks is None or (blocks != blocks[0]).any():
        raise InvalidInputError(
            f"{path}: not a MedMNIST-C file: its {len(labels)} test_labels are not the test "
            f"labels repeated in {len(SEVERITIES)} equal blocks (severity 1 to 5)"
        )
    for severity in severities:
        rows = slice((severity - 1) * n, severity * n)
        metadata = _metadata(
            path.parent.name, "test", labels[rows], corruption=path.stem, severity=severity
        )
        yield MedMNISTSplit(images[rows], labels[rows], metadata, path)


def iter_medmnist_c(
    path: str | os.PathLike[str],
    *,
    corruptions: Iterable[str] | None = None,
    severities: Iterable[int] = SEVERITIES,
) -> Iterator[MedMNISTSplit]:
    """Yield the images of each MedMNIST-C corruption at each severity.

    Parameters
    ----------
    path : path
        A dataset folder of MedMNIST-C (``pathmnist/``, holding ``<corruption>.npz`` files)
        or one such file.
    corruptions : iterable of str, optional
        File names without ``.npz`` to read, in this order (default: every file, sorted).
    severities : iterable of int in 1..5
        Severities to yield, in this order, for each corruption.

    Returns
    -------
    iterator of MedMNISTSplit
        One per (corruption, severity), the test set's N images each; ``metadata`` columns
        ``dataset`` (the folder name), ``split`` ("test"), ``index`` (row in the clean test
        set), ``label``, ``corruption``, ``severity``. The severities of one corruption are
        views of its whole file, read at once (an ``.npz`` member cannot be read in part):
        5 x 7,180 RGB 224 x 224 images, 5.4 GB, for PathMNIST-C.

    Raises
    ------
    InvalidInputError
        Raised here, before any image is read: no such path (the message says where to get
        it), a folder without ``.npz`` files, an unknown corruption, a severity outside
        1..5. Raised while iterating: a file that is not an ``.npz`` archive or lacks
        ``test_images`` / ``test_labels``, invalid arrays, or labels that are not the test
        labels repeated in five equal blocks.
    """
    files = _corruption_files(_existing(path, MEDMNIST_C_SOURCE), corruptions)
    severities = _check_severities(severities)
    return (split for file in files for split in _severity_splits(file, severities))


@contextmanager
def staged_export(out_dir: Path, marker: str) -> Iterator[Path]:
    """Yield a staging folder that replaces ``out_dir`` whole when the block succeeds.

    ``out_dir`` must be new, empty, or an earlier export (it holds ``marker``); anything
    else is refused, never replaced. Exports to one folder are serialised by a lock file
    ``.<name>.lock`` beside it; an exception leaves ``out_dir`` as it was
    (:func:`fmood.utils.atomic.staged_directory`).
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out_dir.parent / f".{out_dir.name}.lock"):
        if (
            out_dir.exists()
            and not (out_dir / marker).is_file()
            and (not out_dir.is_dir() or any(out_dir.iterdir()))
        ):
            raise InvalidInputError(
                f"{out_dir}: exists and is not an earlier export (no {marker}); give a new or "
                "empty folder, it is replaced whole"
            )
        with staged_directory(out_dir) as staging:
            yield staging


def _relative_paths(metadata: pd.DataFrame) -> pd.Series:
    """``<dataset>/<split>/<index>.png``, or ``<dataset>/<corruption>/severity-<s>/<index>.png``."""
    folder = metadata["dataset"].astype(str) + "/"
    if "corruption" in metadata.columns:
        folder += (
            metadata["corruption"].astype(str) + "/severity-" + metadata["severity"].astype(str)
        )
    else:
        folder += metadata["split"].astype(str)
    return folder + "/" + metadata["index"].map("{:06d}.png".format)


def export_images(
    splits: MedMNISTSplit | Iterable[MedMNISTSplit],
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = False,
) -> Path:
    """Write every image as a PNG file and a ``manifest.csv`` that lists them.

    Parameters
    ----------
    splits : MedMNISTSplit or iterable of them
        From :func:`load_medmnist` or :func:`iter_medmnist_c` (e.g. the clean test set and
        every corruption, into one folder), written one after the other, so an iterator
        holds one file in memory at a time.
    out_dir : path
        New, empty, or an earlier export (replaced whole). Files are written into a sibling
        folder that is renamed into place at the end, so ``out_dir`` never holds half an
        export.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        ``out_dir/manifest.csv``: ``path`` (relative to the CSV:
        ``<dataset>/<split>/<index>.png`` or ``<dataset>/<corruption>/severity-<s>/<index>.png``)
        then the metadata columns; readable by :func:`fmood.io.list_dataset`, so
        ``fmood embed --data out_dir/manifest.csv`` embeds the images. PNGs are 8-bit grey
        or RGB, the stored pixels unchanged.

    Raises
    ------
    InvalidInputError
        No split, the same image twice, or ``out_dir`` is a non-empty folder that is not an
        earlier export; ``out_dir`` is left as it was.
    """
    splits = [splits] if isinstance(splits, MedMNISTSplit) else splits
    out_dir = Path(os.path.abspath(out_dir))
    tables: list[pd.DataFrame] = []
    written: set[str] = set()
    with staged_export(out_dir, MANIFEST) as staging:
        bar = tqdm(desc="export", unit="image", disable=not progress)
        # One split at a time, so a MedMNIST-C iterator holds one corruption file at most.
        for split in splits:
            table = split.metadata.assign(path=_relative_paths(split.metadata))
            for relative, pixels in zip(table["path"], split.images, strict=True):
                if relative in written:
                    raise InvalidInputError(
                        f"export_images: {relative} given more than once; pass each split once"
                    )
                written.add(relative)
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                PILImage.fromarray(pixels).save(target, format="PNG", compress_level=1)
                bar.update()
            tables.append(table)
        bar.close()
        if not tables:
            raise InvalidInputError("export_images: no split to export")
        table = pd.concat(tables, ignore_index=True)
        if "severity" in table.columns:
            table["severity"] = table["severity"].astype("Int64")  # empty for clean images
        table[["path", *(c for c in table.columns if c != "path")]].to_csv(
            staging / MANIFEST, index=False
        )
    return out_dir / MANIFEST
