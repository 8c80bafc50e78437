"""``compare``: which backbone for a target hospital? Every backbone judged on the same data.

For each backbone the reference and target are embedded (once: stores are reused on a rerun),
then measured the same way: how clearly an OOD detector fitted on the reference separates the
target from held-out reference images, whether a domain classifier can, the dataset distance
over its noise floor, the share of target images flagged, and, with a label column,
how a linear probe trained on the reference fares on the target and whether the OOD evidence
finds its errors. The table is written as CSV, Markdown, HTML and JSON.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmood.backbones import Backbone, load
from fmood.backbones.registry import check_name
from fmood.calibration.detector import OODDetector
from fmood.distances import dataset_distance
from fmood.errors import InvalidInputError
from fmood.io.dataset import check_read_options
from fmood.report.inputs import (
    DEFAULT_GROUPS_COLUMN,
    check_same_backbone,
    groups_of,
    resolve_groups_column,
)
from fmood.sanitize import printable
from fmood.store import FeatureStore
from fmood.workflows import compare_output
from fmood.workflows.compare_measures import (
    detector_separability,
    domain_classifier_auroc,
    labels_of,
    linear_probe,
    sample_throughput,
)
from fmood.workflows.compare_output import RANKINGS, ComparisonFiles
from fmood.workflows.sources import DEFAULT_STORE_ROOT, is_store, store_for, store_path_for

#: Prefix of a backbone name that asks for its random-weight control.
RANDOM_PREFIX = "random:"
#: Reference images embedded in memory to measure throughput when nothing was embedded.
THROUGHPUT_SAMPLE = 16
#: Bootstrap replicates and null splits of the MMD.
N_BOOTSTRAP = 200
N_NULL = 5

BackboneLike = str | Backbone


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone of a comparison, before it is loaded.

    Attributes
    ----------
    label : str
        Its name in the table (``"dinov2-base"``, ``"random:dinov2-base"``).
    name : str or None
        Registry name to load; None for a given :class:`Backbone`.
    pretrained : bool or None
        False for a random-weight control; None for a given Backbone.
    backbone : Backbone or None
        A given, already loaded backbone.
    """

    label: str
    name: str | None
    pretrained: bool | None
    backbone: Backbone | None = None

    @property
    def weights(self) -> str:
        """ "pretrained", "random" or "given"."""
        if self.backbone is not None:
            return "given"
        return "pretrained" if self.pretrained else "random"


@dataclass(frozen=True)
class ComparisonResult:
    """Where a comparison was written, and its table.

    Attributes
    ----------
    out_dir : Path
    table : DataFrame
        One row per backbone, ranked (the rows of ``comparison.csv``).
    rank_by : str
        The column the ranking sorts by.
    csv_path, markdown_path, html_path, summary_path : Path
    """

    out_dir: Path
    table: pd.DataFrame = field(repr=False)
    rank_by: str
    csv_path: Path
    markdown_path: Path
    html_path: Path
    summary_path: Path

    @property
    def ranking(self) -> list[str]:
        """Backbone labels, best first."""
        return self.table["backbone"].tolist()

    def __str__(self) -> str:
        column, higher_first, _ = RANKINGS[self.rank_by]
        order = "highest" if higher_first else "lowest"
        head = (
            f"fmood compare: {len(self.table)} backbones ranked by {self.rank_by} "
            f"({order} first), written to {printable(self.html_path)}"
        )
        lines = [head]
        for _, row in self.table.iterrows():
            value = row[column]
            shown = "n/a" if pd.isna(value) else f"{value:.3f}"
            lines.append(f"  {int(row['rank'])}. {printable(row['backbone'])}: {column} {shown}")
        lines.append(f"table: {printable(self.csv_path)}; numbers: {printable(self.summary_path)}")
        return "\n".join(lines)


def parse_backbones(backbones: str | Sequence[BackboneLike]) -> list[BackboneSpec]:
    """Backbone specs from names (``"a,b"`` or a list), ``random:NAME`` or Backbone objects.

    Names are checked against :func:`fmood.backbones.available_backbones` here, before
    anything is embedded or written.

    Raises
    ------
    BackboneError
        An unknown name.
    InvalidInputError
        No backbone, a backbone listed twice, or something that is neither name nor Backbone.
    """
    if isinstance(backbones, str):
        backbones = [part.strip() for part in backbones.split(",") if part.strip()]
    elif isinstance(backbones, Backbone):
        backbones = [backbones]
    specs: list[BackboneSpec] = []
    for item in backbones:
        if isinstance(item, Backbone):
            base = f"{item.name}[{item.options}]" if item.options else item.name
            label, taken, n = base, {s.label for s in specs}, 2
            while label in taken:
                label, n = f"{base}#{n}", n + 1
            specs.append(BackboneSpec(label, None, None, item))
            continue
        if not isinstance(item, str) or not item.strip():
            raise InvalidInputError(f"a backbone must be a name or a Backbone, got {item!r}")
        label = item.strip()
        pretrained = not label.startswith(RANDOM_PREFIX)
        name = label if pretrained else label[len(RANDOM_PREFIX) :]
        check_name(name, label)
        if label in {s.label for s in specs}:
            raise InvalidInputError(f"backbone {label!r} is listed twice")
        specs.append(BackboneSpec(label, name, pretrained))
    if not specs:
        raise InvalidInputError("name at least one backbone to compare")
    return specs


def compare(
    backbones: str | Sequence[BackboneLike],
    reference: str | Path,
    target: str | Path,
    out_dir: str | Path,
    *,
    label_column: str | None = None,
    store_root: str | Path = DEFAULT_STORE_ROOT,
    device: str = "auto",
    seed: int = 0,
    alpha: float = 0.05,
    rank_by: str = "separability",
    groups_column: str | None = DEFAULT_GROUPS_COLUMN,
    batch_size: int = 32,
    read_options: dict | None = None,
    throughput_sample: int = THROUGHPUT_SAMPLE,
    progress: bool = True,
) -> ComparisonResult:
    """Compare backbones on one reference and one target dataset; write the table.

    Per backbone (one row), with an :class:`OODDetector` fitted on the reference (patients
    kept whole in its calibration split when a patient column exists):

    - ``separability``: AUROC of the detector's OOD evidence, target images against the
      reference images it held out (0.5: it cannot tell them apart, 1: fully separated);
      the default ranking;
    - ``classifier_auroc``: cross-validated AUROC of a linear domain classifier trained on both
      sets (folds keep patients whole): whether any linear difference exists;
    - ``mmd_ratio``: MMD over its null level between two parts of the reference (patients
      whole), with ``mmd``, ``mmd_null_level`` and the permutation ``mmd_p_value``;
    - ``flagged_share``: target images flagged at false-discovery rate ``alpha``, and the
      target's ``median_degree``;
    - with ``label_column``, a linear probe (standardised logistic regression) trained on the
      reference: ``reference_accuracy`` (held-out reference part, whole patients),
      ``target_accuracy``, ``accuracy_drop``, and how well the OOD evidence (the detector's
      surprise, i.e. its degree without rounding at 1) ranks the probe's target errors:
      ``error_auroc``, ``error_aurc``, ``error_augrc``;
    - ``images_per_second``: measured on the images embedded in this run or, when every
      image was already stored, on the first ``throughput_sample`` reference images embedded
      in memory (``throughput_measured_on`` says which).

    Writes ``comparison.csv``, ``comparison.md``, ``comparison.html`` (self-contained: inline
    CSS, no scripts) and ``summary.json`` (strict JSON: every number, the seed, each
    backbone's fingerprint) into ``out_dir``, built in a staging directory that replaces
    ``out_dir`` whole at the end.

    Parameters
    ----------
    backbones : str or sequence of str / Backbone
        Registry names (``"biomedclip,dinov2-base"`` or a list), ``"random:NAME"`` for NAME
        with random weights (``pretrained=False``, drawn with torch seed ``seed``: a control
        for what the weights add), or loaded :class:`Backbone` objects.
    reference, target : path
        Folders or CSV manifests of images (or feature stores, for a single backbone that
        made them). Each is embedded with each backbone into ``store_root``.
    out_dir : path
        New, empty, or an earlier comparison (replaced).
    label_column : str, optional
        Manifest column with each image's class, in both reference and target.
    store_root : path
        Where the embeddings are kept; a rerun embeds only what is missing.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"`` for the backbones loaded by name.
    seed : int
        Seeds everything random (random weights, folds, splits, resampling): a fixed seed
        gives the same table, throughput aside.
    alpha : float in (0, 1)
        False-discovery rate of the flags.
    rank_by : str
        A key of :data:`fmood.workflows.compare_output.RANKINGS`: ``separability`` (default),
        ``classifier_auroc``, ``mmd_ratio``, ``flagged_share``, or with labels ``target_accuracy``,
        ``accuracy_drop``, ``error_aurc``.
    groups_column : str or None
        Patient column (used where present on a side): folds, splits and resampling keep
        patients whole.
    batch_size : int
    read_options : dict, optional
        Reader options (``window``, ``axis``...) as for ``fmood embed``.
    throughput_sample : int
        Images embedded in memory for throughput when nothing had to be embedded (0: skip).
    progress : bool

    Returns
    -------
    ComparisonResult

    Raises
    ------
    BackboneError
        Unknown backbone name (raised before anything is embedded or written).
    InvalidInputError
        Bad parameters, a missing label column, or an ``out_dir`` that is a file or a
        non-empty directory without an earlier comparison.
    """
    started = time.perf_counter()
    specs = parse_backbones(backbones)
    _check_params(seed, alpha, rank_by, label_column, throughput_sample)
    out = compare_output.check_out_dir(out_dir)
    read_options = check_read_options(read_options)
    for role, source in (("reference", reference), ("target", target)):
        _check_source(Path(source), role, label_column)

    rows, details = [], []
    for i, spec in enumerate(specs, start=1):
        if progress:
            print(f"fmood compare [{i}/{len(specs)}] {printable(spec.label)}", flush=True)
        row, detail = _measure(
            spec,
            Path(reference),
            Path(target),
            label_column=label_column,
            store_root=Path(store_root),
            device=device,
            seed=seed,
            alpha=alpha,
            groups_column=groups_column,
            batch_size=batch_size,
            read_options=read_options,
            throughput_sample=throughput_sample,
            progress=progress,
        )
        rows.append(row)
        details.append(detail)

    table = compare_output.ranked_table(rows, rank_by, with_labels=label_column is not None)
    setup = {
        "reference": str(reference),
        "target": str(target),
        "label_column": label_column,
        "groups_column": groups_column,
        "seed": seed,
        "alpha": alpha,
        "rank_by": rank_by,
        "store_root": str(store_root),
        "device": device,
        "throughput_sample": throughput_sample,
        "seconds": round(time.perf_counter() - started, 3),
    }
    files: ComparisonFiles = compare_output.write_comparison(out, table, details, setup)
    return ComparisonResult(
        out_dir=out,
        table=table,
        rank_by=rank_by,
        csv_path=files.csv,
        markdown_path=files.markdown,
        html_path=files.html,
        summary_path=files.summary,
    )


def _measure(
    spec: BackboneSpec,
    reference: Path,
    target: Path,
    *,
    label_column: str | None,
    store_root: Path,
    device: str,
    seed: int,
    alpha: float,
    groups_column: str | None,
    batch_size: int,
    read_options: dict,
    throughput_sample: int,
    progress: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Embed both sides with one backbone and measure it: a table row and its details."""
    backbone = _load(spec, device, seed)
    try:
        common = {
            "store_root": store_root,
            "batch_size": batch_size,
            "progress": progress,
            "read_options": read_options or None,
        }
        common["label"] = spec.label
        ref_store, ref_new, ref_seconds = _embed(reference, backbone, common)
        tgt_store, tgt_new, tgt_seconds = _embed(target, backbone, common)
        check_same_backbone(ref_store, tgt_store)
        for store, role in ((ref_store, "reference"), (tgt_store, "target")):
            if len(store) < 2:
                raise InvalidInputError(
                    f"the {role} holds {len(store)} embedded image(s) for {spec.label}; "
                    "a comparison needs at least 2 a side"
                )
        n_new = ref_new + tgt_new
        if n_new:
            throughput = n_new / max(ref_seconds + tgt_seconds, 1e-9)
            measured_on = f"{n_new} images embedded in this run (reading files included)"
        elif throughput_sample == 0:
            throughput, measured_on = None, "not measured (throughput_sample=0)"
        else:
            images = _sample_images(ref_store, throughput_sample, read_options)
            throughput = sample_throughput(backbone, images, batch_size)
            measured_on = (
                f"{len(images)} stored reference images re-embedded in memory (model only)"
                if throughput is not None
                else "nothing (no image could be read to time)"
            )
        fingerprint = backbone.fingerprint.to_dict()
        dim = backbone.dim
    finally:
        if spec.backbone is None:  # loaded here: free it before the next one loads
            del backbone
            _free_memory()

    X_ref = np.array(ref_store.embeddings, dtype=np.float32)
    X_tgt = np.array(tgt_store.embeddings, dtype=np.float32)
    ref_meta = ref_store.metadata.reset_index(drop=True)
    tgt_meta = tgt_store.metadata.reset_index(drop=True)
    groups_column = resolve_groups_column(ref_store, groups_column)
    groups_ref = groups_of(ref_meta, groups_column)
    groups_tgt = groups_of(tgt_meta, groups_column)

    classifier = domain_classifier_auroc(
        X_ref, X_tgt, groups_reference=groups_ref, groups_target=groups_tgt, seed=seed
    )
    mmd = dataset_distance(
        X_ref,
        X_tgt,
        method="mmd",
        n_bootstrap=N_BOOTSTRAP,
        n_null=N_NULL,
        random_state=seed,
        groups_a=groups_ref,
        groups_b=groups_tgt,
    )
    detector = OODDetector(random_state=seed).fit(X_ref, groups=groups_ref)
    assessed = detector.assess(X_tgt, alpha)
    flagged = assessed["flagged"].to_numpy(dtype=bool)
    surprise = assessed["surprise"].to_numpy(dtype=np.float64)
    separable = detector_separability(detector, surprise)

    row: dict[str, Any] = {
        "backbone": spec.label,
        "weights": spec.weights,
        "dim": dim,
        "n_reference": X_ref.shape[0],
        "n_target": X_tgt.shape[0],
        "separability": separable,
        "classifier_auroc": classifier.auroc,
        "mmd_ratio": _finite_or_nan(mmd.ratio),
        "mmd": mmd.value,
        "mmd_null_level": _finite_or_nan(mmd.null_level),
        "mmd_p_value": _finite_or_nan(mmd.p_value),
        "flagged_share": float(flagged.mean()),
        "n_flagged": int(flagged.sum()),
        "median_degree": float(np.median(assessed["degree"])),
    }
    probe = None
    if label_column is not None:
        for meta, role, path in ((ref_meta, "reference", reference), (tgt_meta, "target", target)):
            if label_column not in meta.columns:
                raise InvalidInputError(
                    f"label_column {label_column!r} is not a column of the {role} {path}; "
                    f"it has {', '.join(map(str, meta.columns))}"
                )
        probe = linear_probe(
            X_ref,
            labels_of(ref_meta[label_column]),
            X_tgt,
            labels_of(tgt_meta[label_column]),
            surprise,
            groups_reference=groups_ref,
            seed=seed,
        )
        row.update(
            {
                "reference_accuracy": probe.reference_accuracy,
                "target_accuracy": probe.target_accuracy,
                "accuracy_drop": probe.accuracy_drop,
                "error_auroc": np.nan if probe.error_auroc is None else probe.error_auroc,
                "error_aurc": probe.error_aurc,
                "error_augrc": probe.error_augrc,
            }
        )
    row.update(
        {
            "images_per_second": np.nan if throughput is None else float(throughput),
            "throughput_measured_on": measured_on,
            "weights_sha256": fingerprint["weights_sha256"],
        }
    )
    detail = {
        "backbone": spec.label,
        "name": spec.name if spec.name is not None else fingerprint["name"],
        "weights": spec.weights,
        "random_weights_seed": seed if spec.pretrained is False else None,
        "fingerprint": fingerprint,
        "dim": dim,
        "reference_store": str(ref_store.path),
        "target_store": str(tgt_store.path),
        "n_reference": X_ref.shape[0],
        "n_target": X_tgt.shape[0],
        "groups": {"reference": groups_ref is not None, "target": groups_tgt is not None},
        "separability": {
            "auroc": separable,
            "reference_side": "the detector's calibration part, scored leave-one-out",
            "n_reference_held_out": int(detector.calibration_scores_.shape[0]),
            "n_target": X_tgt.shape[0],
        },
        "domain_classifier": classifier.to_dict(),
        "mmd": mmd.to_dict(),
        "detector": {
            "alpha": alpha,
            "scorers": list(detector.scorer_names_),
            "flagged_share": row["flagged_share"],
            "n_flagged": row["n_flagged"],
            "median_degree": row["median_degree"],
            "mean_degree": float(np.mean(assessed["degree"])),
        },
        "probe": None if probe is None else probe.to_dict(),
        "throughput": {
            "images_per_second": None if throughput is None else float(throughput),
            "measured_on": measured_on,
            "embedded_in_this_run": {"reference": ref_new, "target": tgt_new},
            "embedding_seconds": {
                "reference": round(ref_seconds, 3),
                "target": round(tgt_seconds, 3),
            },
        },
    }
    return row, detail


def _load(spec: BackboneSpec, device: str, seed: int) -> Backbone:
    if spec.backbone is not None:
        return spec.backbone
    if spec.pretrained:
        return load(spec.name, device=device)
    import torch

    # Random weights come from torch's global generator: seed it (without disturbing the
    # caller's stream), so the control, its fingerprint and its store are the same each run.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return load(spec.name, device=device, pretrained=False)


def _free_memory() -> None:
    """Return a dropped backbone's memory (GPU memory above all) before the next loads."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _embed(source: Path, backbone: Backbone, common: dict) -> tuple[FeatureStore, int, float]:
    """``store_for(source, backbone)``, with the images it embedded and the seconds it took."""
    if is_store(source):
        return store_for(source, backbone), 0, 0.0
    expected = store_path_for(source, backbone, common["store_root"], common["label"])
    before = len(FeatureStore.open(expected)) if is_store(expected) else 0
    started = time.perf_counter()
    store = store_for(source, backbone, **common)
    seconds = time.perf_counter() - started
    if Path(store.path).resolve() != expected.resolve():  # naming changed: count it all
        before = 0
    return store, max(len(store) - before, 0), seconds


def _check_params(
    seed: object,
    alpha: object,
    rank_by: object,
    label_column: str | None,
    throughput_sample: object,
) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise InvalidInputError(f"seed must be an integer, got {seed!r}")
    if not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if rank_by not in RANKINGS:
        raise InvalidInputError(f"rank_by must be one of {', '.join(RANKINGS)}; got {rank_by!r}")
    if rank_by in compare_output.LABEL_COLUMNS and label_column is None:
        raise InvalidInputError(
            f"rank_by {rank_by!r} needs a label_column (the probe is trained on labels)"
        )
    if (
        not isinstance(throughput_sample, (int, np.integer))
        or isinstance(throughput_sample, bool)
        or throughput_sample < 0
    ):
        raise InvalidInputError(
            f"throughput_sample must be an integer >= 0 (0 skips), got {throughput_sample!r}"
        )


def _check_source(source: Path, role: str, label_column: str | None) -> None:
    """The source exists, and holds ``label_column`` when one is asked for."""
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such folder, CSV manifest or feature store")
    if label_column is None:
        return
    if is_store(source):
        columns = list(FeatureStore.open(source).metadata.columns)
    elif source.suffix.lower() == ".csv":
        columns = list(pd.read_csv(source, nrows=0).columns)
    else:
        columns = []
    if label_column not in columns:
        raise InvalidInputError(
            f"{label_column!r} is not a column of the {role} ({source}); "
            f"it has {columns or 'no metadata columns (a folder: use a CSV manifest)'}"
        )


def _sample_images(store: FeatureStore, n: int, read_options: dict) -> list[np.ndarray]:
    """Up to ``n`` stored images, evenly spaced, re-read from their files (unreadable skipped)."""
    from fmood.io.dataset import READ_ERRORS, Record, read_record

    meta = store.metadata
    if "path" not in meta.columns or meta.empty:
        return []
    rows = np.unique(np.linspace(0, len(meta) - 1, min(n, len(meta))).astype(int))
    images = []
    for row in rows:
        path = meta["path"].iloc[row]
        frame = meta["frame"].iloc[row] if "frame" in meta.columns else None
        try:
            read = read_record(Record(str(path)), **(read_options or {}))
        except READ_ERRORS:
            continue
        frames = {im.frame: im for im in read}
        image = frames.get(None if pd.isna(frame) else int(frame), read[0] if read else None)
        if image is not None:
            images.append(image.pixels)
    return images


def _finite_or_nan(value: object) -> float:
    """``value`` as a float, NaN when it is None or not finite (JSON writes NaN as null)."""
    if value is None:
        return float("nan")
    value = float(value)
    return value if np.isfinite(value) else float("nan")
