"""Build the medical OOD dataset on disk: PNG files, two CSV manifests, ``build.json`` last."""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from collections.abc import Hashable
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fmood.errors import InvalidInputError
from fmood.utils.atomic import TMP_SUFFIX, exclusive_lock, staged_directory, write_bytes_atomic
from fmood_bench.datasets.medical.artifacts import ARTIFACT_TYPES, apply_artifact
from fmood_bench.datasets.medical.shifts import GROUPS, SHIFTS
from fmood_bench.datasets.medical.sources import (
    FILE_SOURCES,
    VOLUME_SOURCES,
    Slice,
    SubjectParameters,
    derived_rng,
    file_slices,
    fit_size,
    mni_template,
    new_workdir,
    package_file,
    subject_slices,
    volume_slices,
    write_png,
)

#: Bumped whenever the content or layout changes, so older builds are rebuilt.
FORMAT_VERSION = 1
BUILD_FILE = "build.json"
REFERENCE_CSV = "reference.csv"
TARGET_CSV = "target.csv"
SUBJECTS_CSV = "subjects.csv"
REFERENCE_SITE = "reference-site"
#: Manifest columns, in order (both manifests).
COLUMNS = (
    "path",
    "patient",
    "site",
    "shift",
    "shift_group",
    "severity",
    "modality",
    "anatomy",
    "source",
    "source_frame",
    "transform",
)
_MAX_SLICES_PER_SUBJECT = 60
_MAX_SEVERITIES = 10
_SOFTWARE = ("fmood", "torchio", "nilearn", "nibabel", "pydicom", "pydicom-data", "numpy", "pillow")


@dataclass(frozen=True)
class MedicalOODDataset:
    """A built medical OOD dataset.

    Attributes
    ----------
    root : Path
        The dataset folder.
    reference_csv, target_csv : Path
        The manifests (``path`` relative to ``root``), readable by
        :func:`fmood.io.list_dataset`.
    counts : dict of str to int
        Images per set (``reference`` first, then each target ``shift``).
    parameters : dict
        The build parameters.
    missing_sources : tuple of str
        Sources skipped because their package is not installed.
    reused : bool
        Whether an existing complete build was returned instead of building.
    """

    root: Path
    reference_csv: Path
    target_csv: Path
    counts: dict[str, int]
    parameters: dict[str, int] = field(default_factory=dict)
    missing_sources: tuple[str, ...] = ()
    reused: bool = False

    def reference(self) -> pd.DataFrame:
        """The reference manifest as a table."""
        return pd.read_csv(self.reference_csv)

    def target(self) -> pd.DataFrame:
        """The target manifest as a table."""
        return pd.read_csv(self.target_csv)

    def describe(self) -> str:
        """A text table: set, group, modality, images, what it holds."""
        rows = [("set", "group", "modality", "images", "what")]
        for name, count in self.counts.items():
            spec = SHIFTS[name]
            rows.append((name, spec.group, spec.modality, str(count), spec.description))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  "
            f"{r[3]:>{widths[3]}}  {r[4]}"
            for r in rows
        ]
        n_reference = self.counts.get("reference", 0)
        n_target = sum(self.counts.values()) - n_reference
        lines.append(
            f"{n_reference + n_target} images: reference {n_reference}, target {n_target}; "
            f"folder {self.root}"
        )
        if self.missing_sources:
            lines.append(f"skipped (package not installed): {', '.join(self.missing_sources)}")
        return "\n".join(lines)


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f">= {low}"
        raise InvalidInputError(f"{name} must be {bound}, got {value}")
    return int(value)


def _check_parameters(**values: Any) -> dict[str, int]:
    checked = {
        "n_reference_subjects": _check_int(
            "n_reference_subjects", values["n_reference_subjects"], 1
        ),
        "n_target_subjects": _check_int("n_target_subjects", values["n_target_subjects"], 1),
        "slices_per_subject": _check_int(
            "slices_per_subject", values["slices_per_subject"], 1, _MAX_SLICES_PER_SUBJECT
        ),
        "severities": _check_int("severities", values["severities"], 1, _MAX_SEVERITIES),
        "seed": _check_int("seed", values["seed"], 0),
    }
    n_clean = checked["n_target_subjects"] * checked["slices_per_subject"]
    checked["artifact_slices"] = _check_int(
        "artifact_slices", values["artifact_slices"], 1, n_clean
    )
    return checked


def _available_sources() -> tuple[list[str], list[str]]:
    used: list[str] = []
    missing: list[str] = []
    for volume in VOLUME_SOURCES:
        (used if volume.available() else missing).append(volume.key)
    for file in FILE_SOURCES:
        found = package_file(file.package, file.file) is not None
        (used if found else missing).append(file.key)
    return used, missing


def _software() -> dict[str, str]:
    versions = {}
    for name in _SOFTWARE:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _read_build(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / BUILD_FILE).read_text())
    except (OSError, ValueError):
        return None


def _is_complete(root: Path, build: dict[str, Any]) -> bool:
    """Both manifests readable, their counts as recorded, every listed file present."""
    try:
        tables = [pd.read_csv(root / name) for name in (REFERENCE_CSV, TARGET_CSV)]
    except (OSError, ValueError):
        return False
    counts: dict[Hashable, int] = {}
    for table in tables:
        if "path" not in table.columns or "shift" not in table.columns:
            return False
        counts.update(table["shift"].value_counts(sort=False).to_dict())
        if not all((root / p).is_file() for p in table["path"]):
            return False
    return counts == build.get("counts")


def _remove_stale_staging(root: Path) -> None:
    """Delete what a killed build left beside ``root`` (call with the build lock held).

    :func:`fmood.utils.atomic.staged_directory` names its folders ``.<name>.<8 chars>.tmp``
    (the build) and ``.<name>.old.<8 chars>`` (the previous build, while swapping).
    """
    name = re.escape(root.name)
    pattern = re.compile(rf"\.{name}\.(old\.[a-z0-9_]{{8}}|[a-z0-9_]{{8}}{re.escape(TMP_SUFFIX)})")
    for path in root.parent.iterdir():
        if path.is_dir() and pattern.fullmatch(path.name):
            shutil.rmtree(path, ignore_errors=True)


def _dataset(root: Path, build: dict[str, Any], reused: bool) -> MedicalOODDataset:
    return MedicalOODDataset(
        root=root,
        reference_csv=root / REFERENCE_CSV,
        target_csv=root / TARGET_CSV,
        counts=dict(build["counts"]),
        parameters=dict(build["parameters"]),
        missing_sources=tuple(build.get("missing_sources", ())),
        reused=reused,
    )


def make_medical_ood_dataset(
    out_dir: str | os.PathLike[str],
    *,
    n_reference_subjects: int = 12,
    n_target_subjects: int = 4,
    slices_per_subject: int = 24,
    severities: int = 5,
    artifact_slices: int = 8,
    seed: int = 0,
    progress: bool = True,
) -> MedicalOODDataset:
    """Write a medical OOD dataset of real images (PNG) with reference and target manifests.

    The reference is ``n_reference_subjects`` synthetic T1 subjects (the MNI152 template
    under random 3-D spatial and intensity changes) x ``slices_per_subject`` axial slices;
    the target holds ``n_target_subjects`` other subjects (``id``), ``artifact_slices`` of
    their slices under each MR artifact at ``severities`` graded levels, and real images of
    other MR contrasts, anatomy, modalities and non-medical photographs (see
    :mod:`fmood_bench.datasets.medical` and :data:`~fmood_bench.datasets.medical.GROUPS`).

    Parameters
    ----------
    out_dir : path
        The dataset folder: new, empty, or an earlier build of this function. A complete
        build with the same parameters is reused as is; anything else is rebuilt in a
        sibling folder and swapped in whole, so ``out_dir`` never holds half a dataset.
    n_reference_subjects, n_target_subjects : int >= 1
    slices_per_subject : int in 1..60
    severities : int in 1..10
        Artifact levels; level ``s`` has strength ``s / severities``.
    artifact_slices : int
        Clean target slices (spread over the target subjects) that get each artifact.
    seed : int >= 0
        Everything random derives from it: the same seed (and the same installed package
        versions) gives byte-identical files.
    progress : bool
        Show a progress bar.

    Returns
    -------
    MedicalOODDataset

    Raises
    ------
    InvalidInputError
        A parameter out of range, or ``out_dir`` is a non-empty folder without
        ``build.json`` (it is left untouched).

    Warns
    -----
    UserWarning
        Some sources were skipped because their package (pydicom-data, scikit-image) is not
        installed; their sets are smaller or absent, and ``build.json`` lists them.

    Files
    -----
    ``reference/<subject>/*.png``, ``target/<shift>/*.png``, ``reference.csv`` and
    ``target.csv`` (columns :data:`COLUMNS`; ``severity`` is 1..severities for artifacts, 0
    for the clean ``id`` slices they come from, empty otherwise), ``subjects.csv`` (each
    synthetic subject's parameters) and ``build.json`` (parameters, counts, sources and
    software versions; written last). Concurrent calls on one folder are serialised by a
    lock file ``.<name>.lock`` beside it.
    """
    parameters = _check_parameters(
        n_reference_subjects=n_reference_subjects,
        n_target_subjects=n_target_subjects,
        slices_per_subject=slices_per_subject,
        severities=severities,
        artifact_slices=artifact_slices,
        seed=seed,
    )
    root = Path(out_dir)
    used, missing = _available_sources()
    key = {"format_version": FORMAT_VERSION, "parameters": parameters, "sources": used}
    root.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(root.parent / f".{root.name}.lock"):
        build = _read_build(root) if root.is_dir() else None
        if (
            build is not None
            and {k: build.get(k) for k in key} == key
            and _is_complete(root, build)
        ):
            return _dataset(root, build, reused=True)
        if root.exists() and build is None and (not root.is_dir() or any(root.iterdir())):
            raise InvalidInputError(
                f"{root}: exists and is not a dataset made by make_medical_ood_dataset (no "
                f"{BUILD_FILE}); give a new or empty folder, it would be replaced"
            )
        _remove_stale_staging(root)
        if missing:
            warnings.warn(
                f"medical OOD dataset: {len(missing)} source(s) skipped, their package is not "
                f"installed: {', '.join(missing)}",
                stacklevel=2,
            )
        with staged_directory(root) as staging:
            build = _build(staging, parameters, used, missing, progress)
    return _dataset(root, build, reused=False)


def _row(image: Slice, path: str, shift: str, site: str, severity: int | None) -> dict[str, Any]:
    spec = SHIFTS[shift]
    return {
        "path": path,
        "patient": image.patient,
        "site": site,
        "shift": shift,
        "shift_group": spec.group,
        "severity": severity,
        "modality": spec.modality,
        "anatomy": image.anatomy,
        "source": image.source,
        "source_frame": image.source_frame,
        "transform": image.transform,
    }


def _write(root: Path, folder: str, image: Slice) -> tuple[str, str]:
    """Write ``image`` under ``root/folder``; returns its manifest path and transform."""
    pixels, resized = fit_size(image.pixels)
    relative = f"{folder}/{image.name}.png"
    (root / folder).mkdir(parents=True, exist_ok=True)
    write_png(root / relative, pixels)
    transform = (
        image.transform
        if resized is None
        else (resized if image.transform == "none" else f"{image.transform}; {resized}")
    )
    return relative, transform


def _add(
    rows: list[dict],
    root: Path,
    folder: str,
    image: Slice,
    shift: str,
    site: str,
    severity: int | None = None,
) -> None:
    relative, transform = _write(root, folder, image)
    row = _row(image, relative, shift, site, severity)
    row["transform"] = transform
    rows.append(row)


def _build(
    root: Path, parameters: dict[str, int], used: list[str], missing: list[str], progress: bool
) -> dict[str, Any]:
    seed = parameters["seed"]
    n_ref, n_tgt = parameters["n_reference_subjects"], parameters["n_target_subjects"]
    used_set = set(used)
    volumes = [s for s in VOLUME_SOURCES if s.key in used_set]
    files = [s for s in FILE_SOURCES if s.key in used_set]
    bar = tqdm(
        total=n_ref + n_tgt + len(ARTIFACT_TYPES) + len(volumes) + len(files),
        desc="medical OOD dataset",
        unit="step",
        disable=not progress,
    )
    reference_rows: list[dict] = []
    target_rows: list[dict] = []
    subjects: list[dict] = []
    clean: list[Slice] = []
    with new_workdir() as scratch:
        workdir = Path(scratch)
        template = mni_template("t1")
        for role, count in (("ref", n_ref), ("tgt", n_tgt)):
            for index in range(count):
                name = f"mni-{role}-{index + 1:02d}"
                subject = SubjectParameters.sample(derived_rng(seed, "subject", role, index))
                subjects.append(
                    {
                        "patient": name,
                        "set": "reference" if role == "ref" else "id",
                        **subject.summary(),
                    }
                )
                slices = subject_slices(
                    template, subject, parameters["slices_per_subject"], name, workdir
                )
                for image in slices:
                    if role == "ref":
                        _add(
                            reference_rows,
                            root,
                            f"reference/{name}",
                            image,
                            "reference",
                            REFERENCE_SITE,
                        )
                    else:
                        _add(target_rows, root, "target/id", image, "id", REFERENCE_SITE, 0)
                        clean.append(image)
                bar.update()

        n_art = parameters["artifact_slices"]
        # Evenly over the clean target slices (subject-major), so every subject contributes.
        picks = ((np.arange(n_art) + 0.5) * len(clean) / n_art).astype(int)
        for artifact in ARTIFACT_TYPES:
            shift = f"artifact-{artifact}"
            for pick in picks:
                image = clean[pick]
                noise_seed = int(derived_rng(seed, "noise", image.name).integers(2**31 - 1))
                for severity in range(1, parameters["severities"] + 1):
                    pixels, what = apply_artifact(
                        image.pixels, artifact, severity, parameters["severities"], seed=noise_seed
                    )
                    degraded = Slice(
                        pixels=pixels,
                        name=f"{image.name}_s{severity}",
                        patient=image.patient,
                        source=image.source,
                        source_frame=image.source_frame,
                        transform=what,
                    )
                    _add(
                        target_rows,
                        root,
                        f"target/{shift}",
                        degraded,
                        shift,
                        REFERENCE_SITE,
                        severity,
                    )
            bar.update()

        for volume in volumes:
            for image in volume_slices(volume, workdir):
                _add(
                    target_rows, root, f"target/{volume.shift}", image, volume.shift, volume.package
                )
            bar.update()
        for source in files:
            path = package_file(source.package, source.file)
            assert path is not None  # files holds only sources _available_sources found
            for image in file_slices(source, path, seed):
                _add(
                    target_rows, root, f"target/{source.shift}", image, source.shift, source.package
                )
            bar.update()
    bar.close()

    order = {name: i for i, name in enumerate(SHIFTS)}
    target_rows.sort(key=lambda r: order[r["shift"]])  # stable: keeps order within a set
    reference = pd.DataFrame(reference_rows, columns=list(COLUMNS))
    target = pd.DataFrame(target_rows, columns=list(COLUMNS))
    for table in (reference, target):
        table["severity"] = table["severity"].astype("Int64")
        table["source_frame"] = table["source_frame"].astype("Int64")
    reference.to_csv(root / REFERENCE_CSV, index=False)
    target.to_csv(root / TARGET_CSV, index=False)
    pd.DataFrame(subjects).to_csv(root / SUBJECTS_CSV, index=False)

    counts = {"reference": len(reference)}
    counts.update(target["shift"].value_counts(sort=False).to_dict())
    build = {
        "format_version": FORMAT_VERSION,
        "parameters": parameters,
        "sources": used,
        "missing_sources": missing,
        "counts": {k: int(v) for k, v in counts.items()},
        "files": len(reference) + len(target),
        "groups": {group: list(names) for group, names in GROUPS.items()},
        "software": _software(),
    }
    write_bytes_atomic(root / BUILD_FILE, (json.dumps(build, indent=2) + "\n").encode())
    return build
