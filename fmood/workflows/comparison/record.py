"""One record per backbone of a comparison: what it is, where its vectors are, what it measured.

:class:`BackboneMeasures` holds every number once; the table row (:meth:`~BackboneMeasures.row`)
and the ``summary.json`` entry (:meth:`~BackboneMeasures.to_dict`) are both read off it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmood.calibration.detector import OODDetector
from fmood.distances import DistanceResult, dataset_distance
from fmood.errors import InvalidInputError
from fmood.report.inputs import groups_of, resolve_groups_column
from fmood.workflows.comparison.config import BackboneSpec, CompareConfig
from fmood.workflows.comparison.embedding import Throughput, embed_pair
from fmood.workflows.comparison.measures import (
    DomainClassifierAUROC,
    ProbeResult,
    detector_separability,
    domain_classifier_auroc,
    label_strings,
    linear_probe,
)

#: Bootstrap replicates and null splits of the MMD.
N_BOOTSTRAP = 200
N_NULL = 5


@dataclass(frozen=True)
class DetectorFlags:
    """The OOD detector fitted on the reference, applied to the target.

    Attributes
    ----------
    alpha : float
        False-discovery rate of the flags.
    scorers : list of str
    flagged_share : float
    n_flagged : int
    median_degree, mean_degree : float
        Of the target's OOD degrees.
    """

    alpha: float
    scorers: list[str]
    flagged_share: float
    n_flagged: int
    median_degree: float
    mean_degree: float


@dataclass(frozen=True)
class BackboneMeasures:
    """Everything a comparison measured for one backbone.

    Attributes
    ----------
    spec : BackboneSpec
    seed : int
        The comparison's seed (it drew a random-weight control's weights).
    fingerprint : dict
        The backbone's fingerprint (``BackboneFingerprint.to_dict``).
    dim : int
    reference_store, target_store : Path
    n_reference, n_target : int
        Embedded images per side.
    grouped_reference, grouped_target : bool
        Whether a side's patients were known (kept whole).
    separability : float
        :func:`~.measures.detector_separability`.
    n_reference_held_out : int
        Reference images the separability's reference side holds.
    classifier : DomainClassifierAUROC
    mmd : DistanceResult
    detector : DetectorFlags
    probe : ProbeResult or None
        With a label column.
    throughput : Throughput
    """

    spec: BackboneSpec
    seed: int
    fingerprint: dict[str, Any]
    dim: int
    reference_store: Path
    target_store: Path
    n_reference: int
    n_target: int
    grouped_reference: bool
    grouped_target: bool
    separability: float
    n_reference_held_out: int
    classifier: DomainClassifierAUROC
    mmd: DistanceResult
    detector: DetectorFlags
    probe: ProbeResult | None
    throughput: Throughput

    @property
    def label(self) -> str:
        """The backbone's name in the table."""
        return self.spec.label

    def row(self) -> dict[str, Any]:
        """The backbone's row of ``comparison.csv`` (missing numbers as NaN), unranked."""
        row: dict[str, Any] = {
            "backbone": self.label,
            "weights": self.spec.weights,
            "dim": self.dim,
            "n_reference": self.n_reference,
            "n_target": self.n_target,
            "separability": self.separability,
            "classifier_auroc": self.classifier.auroc,
            "mmd_ratio": _finite_or_nan(self.mmd.ratio),
            "mmd": self.mmd.value,
            "mmd_null_level": _finite_or_nan(self.mmd.null_level),
            "mmd_p_value": _finite_or_nan(self.mmd.p_value),
            "flagged_share": self.detector.flagged_share,
            "n_flagged": self.detector.n_flagged,
            "median_degree": self.detector.median_degree,
        }
        if self.probe is not None:
            row.update(
                {
                    "reference_accuracy": self.probe.reference_accuracy,
                    "target_accuracy": self.probe.target_accuracy,
                    "accuracy_drop": self.probe.accuracy_drop,
                    "error_auroc": _finite_or_nan(self.probe.error_auroc),
                    "error_aurc": self.probe.error_aurc,
                    "error_augrc": self.probe.error_augrc,
                }
            )
        row["images_per_second"] = _finite_or_nan(self.throughput.images_per_second)
        row["throughput_measured_on"] = self.throughput.measured_on
        row["weights_sha256"] = self.fingerprint["weights_sha256"]
        return row

    def to_dict(self) -> dict[str, Any]:
        """The backbone's entry in ``summary.json``: every measure with how it was made."""
        return {
            "backbone": self.label,
            "name": self.spec.name if self.spec.name is not None else self.fingerprint["name"],
            "weights": self.spec.weights,
            "random_weights_seed": self.seed if self.spec.pretrained is False else None,
            "fingerprint": self.fingerprint,
            "dim": self.dim,
            "reference_store": str(self.reference_store),
            "target_store": str(self.target_store),
            "n_reference": self.n_reference,
            "n_target": self.n_target,
            "groups": {"reference": self.grouped_reference, "target": self.grouped_target},
            "separability": {
                "auroc": self.separability,
                "reference_side": "the detector's calibration part, scored leave-one-out",
                "n_reference_held_out": self.n_reference_held_out,
                "n_target": self.n_target,
            },
            "domain_classifier": self.classifier.to_dict(),
            "mmd": self.mmd.to_dict(),
            "detector": asdict(self.detector),
            "probe": None if self.probe is None else self.probe.to_dict(),
            "throughput": self.throughput.to_dict(),
        }


def measure_backbone(
    spec: BackboneSpec, reference: Path, target: Path, config: CompareConfig
) -> BackboneMeasures:
    """Embed both sides with one backbone (:func:`~.embedding.embed_pair`) and measure it.

    Raises
    ------
    InvalidInputError
        ``config.label_column`` missing from a side's metadata, or a measure's own refusal
        (too few images, patients or labels).
    """
    pair = embed_pair(spec, reference, target, config)
    X_ref = np.array(pair.reference.embeddings, dtype=np.float32)
    X_tgt = np.array(pair.target.embeddings, dtype=np.float32)
    ref_meta = pair.reference.metadata.reset_index(drop=True)
    tgt_meta = pair.target.metadata.reset_index(drop=True)
    groups_column = resolve_groups_column(pair.reference, config.groups_column)
    groups_ref = groups_of(ref_meta, groups_column)
    groups_tgt = groups_of(tgt_meta, groups_column)
    seed = config.seed

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
    assessed = detector.assess(X_tgt, config.alpha)
    flagged = assessed["flagged"].to_numpy(dtype=bool)
    surprise = assessed["surprise"].to_numpy(dtype=np.float64)

    probe = None
    if config.label_column is not None:
        column = config.label_column
        for meta, role, path in ((ref_meta, "reference", reference), (tgt_meta, "target", target)):
            if column not in meta.columns:
                raise InvalidInputError(
                    f"label_column {column!r} is not a column of the {role} {path}; "
                    f"it has {', '.join(map(str, meta.columns))}"
                )
        probe = linear_probe(
            X_ref,
            label_strings(ref_meta[column]),
            X_tgt,
            label_strings(tgt_meta[column]),
            surprise,
            groups_reference=groups_ref,
            seed=seed,
        )
    return BackboneMeasures(
        spec=spec,
        seed=seed,
        fingerprint=pair.fingerprint,
        dim=pair.dim,
        reference_store=Path(pair.reference.path),
        target_store=Path(pair.target.path),
        n_reference=X_ref.shape[0],
        n_target=X_tgt.shape[0],
        grouped_reference=groups_ref is not None,
        grouped_target=groups_tgt is not None,
        separability=detector_separability(detector, surprise),
        n_reference_held_out=int(detector.calibration_scores_.shape[0]),
        classifier=classifier,
        mmd=mmd,
        detector=DetectorFlags(
            alpha=config.alpha,
            scorers=list(detector.scorer_names_),
            flagged_share=float(flagged.mean()),
            n_flagged=int(flagged.sum()),
            median_degree=float(np.median(assessed["degree"])),
            mean_degree=float(np.mean(assessed["degree"])),
        ),
        probe=probe,
        throughput=pair.throughput,
    )


def _finite_or_nan(value: float | None) -> float:
    """``value`` as a float, NaN when it is None or not finite (JSON writes NaN as null)."""
    if value is None or not np.isfinite(value):
        return float("nan")
    return float(value)
