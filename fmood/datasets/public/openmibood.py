"""The OpenMIBOOD benchmarks (Gutbrod et al., CVPR 2025) from data the user prepared, as manifests.

OpenMIBOOD (https://github.com/remic-othr/OpenMIBOOD) has three medical OOD benchmarks, each
an in-distribution (ID) set plus covariate-shifted ID (``csid``), near-OOD and far-OOD sets:

* ``midog``: 50 x 50 TIFF patches of mitotic figures (ID: MIDOG++ domain 1a).
* ``phakir``: PNG frames of laparoscopic surgery videos (ID: PhaKIR without smoke).
* ``oasis3``: NIfTI brain MR volumes (ID: OASIS-3 T1w).

The lists of images are read by pytorch-ood 0.4.0's ``MIDOG_OpenMIBOOD``,
``PhaKIR_OpenMIBOOD`` and ``OASIS3_OpenMIBOOD`` (``pytorch_ood.benchmark``), always with
``download=False``. They expect ``root`` to be the benchmark's data folder (OpenMIBOOD's
``data/<benchmark>/``, whose sub-folders the image lists name, e.g.
``1a/017/017_342_0.tiff`` or ``far/ccagt_crops/...``) and the OpenOOD-style image lists
(``<relative path> <label>`` per line), as in OpenMIBOOD's
``data/benchmark_imglist/<benchmark>/``, copied to ``<root>/imglists/<benchmark>/``.
pytorch-ood is optional (``pip install pytorch-ood==0.4.0``) and only imported here.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from fmood.datasets.public.medmnist import staged_export
from fmood.errors import FmoodError, InvalidInputError

BENCHMARKS = ("midog", "phakir", "oasis3")
REFERENCE_CSV = "reference.csv"
TARGET_CSV = "target.csv"
#: Manifest columns, in order (both manifests).
COLUMNS = ("path", "benchmark", "shift", "shift_group", "split", "label")
OPENMIBOOD_URL = "https://github.com/remic-othr/OpenMIBOOD"
_CLASSES = {
    "midog": "MIDOG_OpenMIBOOD",
    "phakir": "PhaKIR_OpenMIBOOD",
    "oasis3": "OASIS3_OpenMIBOOD",
}
_SHOWN_MISSING = 3


@dataclass(frozen=True)
class OpenMIBOODSet:
    """One image list of an OpenMIBOOD benchmark.

    Attributes
    ----------
    name : str
        ``<benchmark>_id`` for the ID sets, else pytorch-ood's name of the set
        (``midog_csid_1b``, ``midog_2``, ``phakir_kvasir``, ``oasis3_atlas``, ...).
    group : {"id", "csid", "near", "far"}
    split : {"train", "test"}
        ``train`` for the ID training list only.
    files : tuple of str
        The image files, ``root`` joined with the list's relative paths.
    labels : tuple of int
        The list's labels: classes for ID, as written (usually -1) for the others.
    """

    name: str
    group: str
    split: str
    files: tuple[str, ...]
    labels: tuple[int, ...]


def _where(benchmark: str) -> str:
    return (
        f"fmood downloads nothing: prepare the {benchmark} data with the scripts in "
        f"scripts/download/OpenMIBOOD of {OPENMIBOOD_URL}, and copy its "
        f"data/benchmark_imglist/{benchmark}/*.txt to <root>/imglists/{benchmark}/"
    )


def _benchmark_class(benchmark: str) -> Any:
    try:
        module = importlib.import_module("pytorch_ood.benchmark.img.openmibood")
    except ImportError as exc:
        raise FmoodError(
            f"reading OpenMIBOOD needs pytorch-ood: pip install 'pytorch-ood==0.4.0' ({exc})"
        ) from exc
    return getattr(module, _CLASSES[benchmark])


def _identity(image: Any) -> Any:
    return image


def _set(name: str, group: str, split: str, dataset: Any) -> OpenMIBOODSet:
    return OpenMIBOODSet(name, group, split, tuple(dataset.files), tuple(dataset.labels))


def _check_files(root: Path, benchmark: str, sets: list[OpenMIBOODSet]) -> None:
    missing = [f for s in sets for f in s.files if not os.path.isfile(f)]
    if missing:
        total = sum(len(s.files) for s in sets)
        shown = ", ".join(missing[:_SHOWN_MISSING])
        raise InvalidInputError(
            f"{root}: {len(missing)} of the {total} images the {benchmark} lists name are "
            f"missing (e.g. {shown}); {_where(benchmark)}"
        )


def load_openmibood(benchmark: str, root: str | os.PathLike[str]) -> list[OpenMIBOODSet]:
    """The image lists of one OpenMIBOOD benchmark, read by pytorch-ood from a local folder.

    Parameters
    ----------
    benchmark : {"midog", "phakir", "oasis3"}
    root : path
        The benchmark's prepared data folder, with the image lists in
        ``<root>/imglists/<benchmark>/`` (see the module docstring).

    Returns
    -------
    list of OpenMIBOODSet
        ID train, ID test, then the csid, near and far sets in pytorch-ood's order.

    Raises
    ------
    InvalidInputError
        Unknown benchmark; no ``root`` or ``<root>/imglists/<benchmark>/`` folder, a
        missing or malformed image list, or image files missing (each message says where
        to get the data).
    FmoodError
        pytorch-ood is not installed.
    """
    if benchmark not in BENCHMARKS:
        raise InvalidInputError(f"benchmark must be one of {BENCHMARKS}, got {benchmark!r}")
    root = Path(root)
    imglists = root / "imglists" / benchmark
    # Checked here: pytorch-ood would create the folder (even with download=False) first.
    if not imglists.is_dir():
        raise InvalidInputError(f"{imglists}: no such folder; {_where(benchmark)}")
    cls = _benchmark_class(benchmark)
    names = [cls._train_imglist, cls._test_imglist, *cls._ood_imglists]  # pytorch-ood 0.4.0
    missing = [name for name in names if not (imglists / name).is_file()]
    if missing:
        raise InvalidInputError(f"{imglists}: image list(s) {missing} missing; {_where(benchmark)}")
    try:
        loaded = cls(str(root), transform=_identity, download=False)
    except (RuntimeError, ValueError, OSError) as exc:
        raise InvalidInputError(f"{root}: {exc}; {_where(benchmark)}") from exc
    groups = {
        **dict.fromkeys(cls.cs_id_names, "csid"),
        **dict.fromkeys(cls.near_ood_names, "near"),
        **dict.fromkeys(cls.far_ood_names, "far"),
    }
    sets = [
        _set(f"{benchmark}_id", "id", "train", loaded.train_in),
        _set(f"{benchmark}_id", "id", "test", loaded.test_in),
        *(
            _set(name, groups[name], "test", dataset)
            for name, dataset in zip(loaded.ood_names, loaded.test_oods, strict=True)
        ),
    ]
    _check_files(root, benchmark, sets)
    return sets


def _rows(benchmark: str, sets: list[OpenMIBOODSet]) -> Iterator[dict[str, Any]]:
    for s in sets:
        for file, label in zip(s.files, s.labels, strict=True):
            yield {
                "path": file,
                "benchmark": benchmark,
                "shift": s.name,
                "shift_group": s.group,
                "split": s.split,
                "label": label,
            }


def _check_unique(csv: str, table: pd.DataFrame) -> None:
    repeated = table["path"][table["path"].duplicated()].tolist()
    if repeated:
        raise InvalidInputError(
            f"{csv}: {len(repeated)} image(s) are in more than one list, e.g. {repeated[0]}; "
            "a manifest lists each file once"
        )


def _copy_files(root: Path, staging: Path, table: pd.DataFrame, progress: bool) -> pd.Series:
    """Copy every file to ``staging/images/<path under root>``; returns the new paths."""
    copied = []
    for file in tqdm(table["path"], desc="copy", unit="file", disable=not progress):
        relative = Path(os.path.relpath(file, root))
        if relative.parts[0] == os.pardir:
            raise InvalidInputError(f"{file}: outside {root}; an image list may not leave it")
        target = staging / "images" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
        copied.append(("images" / relative).as_posix())
    return pd.Series(copied, index=table.index, dtype=object)


def export_openmibood(
    benchmark: str,
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    copy: bool = False,
    progress: bool = False,
) -> tuple[Path, Path]:
    """Write ``reference.csv`` (ID train) and ``target.csv`` (the test sets) for a benchmark.

    Parameters
    ----------
    benchmark : {"midog", "phakir", "oasis3"}
    root : path
        The prepared data folder (see :func:`load_openmibood`).
    out_dir : path
        New, empty, or an earlier export (replaced whole); written in a sibling folder that
        is renamed into place at the end, so it never holds half an export.
    copy : bool
        Copy the image files into ``out_dir/images/`` (their paths under ``root`` kept, the
        bytes unchanged) instead of pointing at them in ``root``.
    progress : bool
        Show a progress bar while copying.

    Returns
    -------
    reference_csv, target_csv : Path
        Columns :data:`COLUMNS`; ``path`` is relative to the CSV (into ``root``, or into
        ``out_dir/images`` with ``copy``). ``target.csv`` holds the ID test set then the
        csid, near and far sets; ``shift`` names the set, ``shift_group`` its group. Both
        are readable by :func:`fmood.io.list_dataset` (TIFF, PNG and JPEG are read whole;
        OASIS-3's NIfTI volumes slice by slice, see ``fmood embed --max-slices``).

    Raises
    ------
    InvalidInputError, FmoodError
        As :func:`load_openmibood`; a file in more than one list of one manifest; an image
        list path outside ``root`` with ``copy``; ``out_dir`` is a non-empty folder that is
        not an earlier export (left untouched).
    """
    sets = load_openmibood(benchmark, root)
    root = Path(os.path.abspath(root))
    out_dir = Path(os.path.abspath(out_dir))
    tables = {
        REFERENCE_CSV: pd.DataFrame(_rows(benchmark, sets[:1]), columns=list(COLUMNS)),
        TARGET_CSV: pd.DataFrame(_rows(benchmark, sets[1:]), columns=list(COLUMNS)),
    }
    for name, table in tables.items():
        _check_unique(name, table)
    with staged_export(out_dir, TARGET_CSV) as staging:
        for name, table in tables.items():
            if copy:
                table["path"] = _copy_files(root, staging, table, progress)
            else:  # relative to out_dir, where the CSV will be once renamed into place
                table["path"] = [os.path.relpath(p, out_dir) for p in table["path"]]
            table.to_csv(staging / name, index=False)
    return out_dir / REFERENCE_CSV, out_dir / TARGET_CSV
