"""The medical OOD benchmark: fmood against pytorch-ood 0.4.0 on the same embeddings.

    python benchmarks/medical_ood/run.py            # the full run (about an hour on 2 CPU cores,
                                                    # most of it LiteMedSAM embedding 840 images)
    python benchmarks/medical_ood/run.py --quick    # a small dataset, EfficientNet-Lite0 only

Data (:func:`fmood_bench.datasets.medical.make_medical_ood_dataset`, images that ship inside pip
packages): a reference of 12 synthetic T1 subjects x 24 axial slices; an in-distribution test
set of 8 other subjects; near-OOD sets (six MR artifacts at five fixed severities on those
subjects' slices, EPI, small field-of-view brain MR, tissue maps) and far-OOD sets (other
anatomy, CT, X-ray, ultrasound, nuclear medicine, fundus, histology, microscopy, photographs).
Subjects are split whole, so near-duplicate slices never sit on both sides.

Per backbone (real weights, plus a random-weight control), every method is fitted on the
reference and scored on the target (the default detector, its variants: split / cv+ / refit /
Mahalanobis++ / per-layer blocks, fmood's scorers, pytorch-ood's detectors)
(:func:`fmood_bench.evaluation.methods.score_methods`); the tables
(:mod:`fmood_bench.evaluation.tables`) give detection metrics per OOD set with near/far
averages, Spearman with artifact severity, the in-distribution flag rate against alpha (held-out
subjects, repeated splits) and failure prediction for a linear probe of the slice level.
Writes ``results/results.json``, ``results/results.md`` and ``results/severity-*.png``.
Embeddings are cached under ``--cache``: a rerun only scores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from render import plot_severity, write_markdown

from fmood.backbones import load
from fmood.metrics import auroc
from fmood.store import FeatureStore
from fmood.utils.atomic import write_bytes_atomic
from fmood.workflows import store_for
from fmood_bench.datasets.medical import SHIFTS, axial_level, make_medical_ood_dataset
from fmood_bench.evaluation.methods import (
    DETECTOR,
    DETECTOR_BLOCKS,
    detector_params,
    held_out_pvalues,
    score_methods,
)
from fmood_bench.evaluation.tables import (
    calibration_table,
    detection_table,
    failure_table,
    group_summary,
    severity_curves,
    severity_table,
)

ALPHA = 0.05
ALPHAS = (0.01, 0.05, 0.1)
#: Detector variants whose p-values are checked on held-out subjects besides the default's.
CALIBRATION_VARIANTS = (
    "fmood:detector-split",
    "fmood:detector-refit",
    "fmood:detector-cv+",
    "fmood:detector++",
)
SEED = 0


@dataclass(frozen=True)
class BackboneConfig:
    """A backbone of the benchmark: registry name, options, real or random weights."""

    label: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = True

    def load(self):
        torch.manual_seed(SEED)  # a random-weight control is the same draw on every run
        return load(self.name, pretrained=self.pretrained, device="cpu", **self.options)


BACKBONES = {
    c.label: c
    for c in (
        BackboneConfig("efficientnet-lite0", "efficientnet-lite0"),
        BackboneConfig("efficientnet-lite0+blocks-2-4", "efficientnet-lite0", {"layers": (2, 4)}),
        BackboneConfig("litemedsam+stages-1-2", "litemedsam", {"layers": (1, 2)}),
        BackboneConfig(
            "random:efficientnet-lite0+blocks-2-4",
            "efficientnet-lite0",
            {"layers": (2, 4)},
            pretrained=False,
        ),
    )
}
FULL = {
    "n_reference_subjects": 12,
    "n_target_subjects": 8,
    "slices_per_subject": 24,
    "severities": 5,
    "artifact_slices": 8,
}
QUICK = {
    "n_reference_subjects": 8,
    "n_target_subjects": 4,
    "slices_per_subject": 8,
    "severities": 3,
    "artifact_slices": 4,
}
QUICK_BACKBONES = ("efficientnet-lite0+blocks-2-4", "random:efficientnet-lite0+blocks-2-4")


def _store_arrays(store: FeatureStore) -> tuple[np.ndarray, pd.DataFrame]:
    return np.asarray(store.embeddings, dtype=np.float32), store.metadata.reset_index(drop=True)


def evaluate_backbone(config: BackboneConfig, data, cache: Path, repeats: int) -> dict[str, Any]:
    """Embed (or reuse), score every method and build every table for one backbone."""
    model = config.load()
    stores = [
        store_for(csv, model, store_root=cache / "embeddings", progress=True)
        for csv in (data.reference_csv, data.target_csv)
    ]
    (X_ref, meta_ref), (X_tgt, meta_tgt) = map(_store_arrays, stores)
    y_ref = axial_level(meta_ref).to_numpy()
    start = time.perf_counter()
    methods = score_methods(
        X_ref,
        y_ref,
        X_tgt,
        groups=meta_ref["patient"],
        alpha=ALPHA,
        blocks=model.blocks,
        random_state=SEED,
    )
    groups = {name: SHIFTS[name].group for name in pd.unique(meta_tgt["shift"])}
    detection = detection_table(methods.scores, meta_tgt["shift"], groups)

    is_id = (meta_tgt["shift"] == "id").to_numpy()
    pool = np.vstack([X_ref, X_tgt[is_id]])
    patients = np.concatenate([meta_ref["patient"], meta_tgt.loc[is_id, "patient"]]).astype(str)
    n_test = meta_tgt.loc[is_id, "patient"].nunique()
    calibrated = [DETECTOR, *CALIBRATION_VARIANTS] + (
        [DETECTOR_BLOCKS] if len(model.blocks) > 1 else []
    )
    repeated = {
        name: held_out_pvalues(
            pool,
            patients,
            n_test_groups=n_test,
            repeats=repeats,
            random_state=SEED,
            **detector_params(name, model.blocks),
        )
        for name in calibrated
    }
    fixed_p = methods.assessment.loc[is_id, "p_combined"].to_numpy()

    level = axial_level(meta_tgt)
    labelled = level.notna().to_numpy()
    errors = methods.predictions[labelled] != level[labelled].to_numpy()
    accuracy = (
        pd.Series(methods.predictions == level.to_numpy())[labelled]
        .groupby(meta_tgt.loc[labelled, "shift"].to_numpy())
        .mean()
    )
    return {
        "backbone": config.label,
        "fingerprint": model.fingerprint.to_dict(),
        "dim": int(X_ref.shape[1]),
        "n_reference": len(X_ref),
        "n_target": len(X_tgt),
        "detection": detection,
        "summary": group_summary(detection),
        "severity": severity_table(methods.scores, meta_tgt),
        "curves": severity_curves(methods.scores, meta_tgt),
        "severity1": severity1_table(methods.scores, meta_tgt),
        "calibration_repeated": calibration_table(repeated[DETECTOR], ALPHAS),
        "calibration_variants": pd.concat(
            [calibration_table(p, ALPHAS).assign(method=name) for name, p in repeated.items()],
            ignore_index=True,
        ),
        "calibration_fixed": calibration_table([fixed_p], ALPHAS),
        "id_flagged_bh": float(methods.assessment.loc[is_id, "flagged"].mean()),
        "failure": failure_table({m: s[labelled] for m, s in methods.scores.items()}, errors),
        "error_rate": float(errors.mean()),
        "probe_accuracy": accuracy.to_dict(),
        "seconds": methods.seconds,
        "scoring_seconds": time.perf_counter() - start,
        "warnings": methods.warnings,
    }


def severity1_table(scores: dict[str, np.ndarray], meta: pd.DataFrame) -> pd.DataFrame:
    """AUROC of each method: severity-1 artifact images (the subtlest) against ``id`` images."""
    is_id = (meta["shift"] == "id").to_numpy()
    mild = (meta["severity"] == 1).fillna(False).to_numpy(dtype=bool) & ~is_id
    rows = [
        {"method": name, "severity1_auroc": auroc(s[is_id], s[mild])} for name, s in scores.items()
    ]
    return pd.DataFrame(rows).sort_values("severity1_auroc", ascending=False, ignore_index=True)


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets for one backbone, measured: values, margins, pass or miss."""
    summary = result["summary"].set_index("method")
    baselines = summary[summary.index.str.startswith("pytorch-ood:")]
    best_near = baselines["near_auroc"].idxmax()
    best_far = baselines["far_auroc"].idxmax()
    ours = summary.loc[DETECTOR]
    spearman = result["severity"].loc[DETECTOR].drop("mean")
    calibration = result["calibration_repeated"].set_index("alpha").loc[ALPHA]
    mild = result["severity1"].set_index("method")["severity1_auroc"]
    mild_baselines = mild[mild.index.str.startswith("pytorch-ood:")]
    mean_rho = result["severity"]["mean"]
    rho_baselines = mean_rho[mean_rho.index.str.startswith("pytorch-ood:")]
    return {
        "severity1_auroc": {
            "fmood": mild[DETECTOR],
            "best_baseline": mild_baselines.idxmax(),
            "baseline": mild_baselines.max(),
            "margin": mild[DETECTOR] - mild_baselines.max(),
            "pass": bool(mild[DETECTOR] >= mild_baselines.max()),
        },
        "mean_spearman": {
            "fmood": mean_rho[DETECTOR],
            "best_baseline": rho_baselines.idxmax(),
            "baseline": rho_baselines.max(),
            "margin": mean_rho[DETECTOR] - rho_baselines.max(),
            "pass": bool(mean_rho[DETECTOR] >= rho_baselines.max()),
        },
        "id_flagged_bh": {
            "observed": result["id_flagged_bh"],
            "pass": bool(result["id_flagged_bh"] == 0),
        },
        "near_auroc": {
            "fmood": ours["near_auroc"],
            "best_baseline": best_near,
            "baseline": baselines.loc[best_near, "near_auroc"],
            "margin": ours["near_auroc"] - baselines.loc[best_near, "near_auroc"],
            "pass": bool(ours["near_auroc"] >= baselines.loc[best_near, "near_auroc"]),
        },
        "far_auroc": {
            "fmood": ours["far_auroc"],
            "best_baseline": best_far,
            "baseline": baselines.loc[best_far, "far_auroc"],
            "margin": ours["far_auroc"] - baselines.loc[best_far, "far_auroc"],
            "pass": bool(ours["far_auroc"] >= 0.99),
        },
        "spearman": {
            "per_artifact": spearman.to_dict(),
            "at_least_0.9": int((spearman >= 0.9).sum()),
            "artifacts": len(spearman),
            "pass": bool((spearman >= 0.9).sum() > len(spearman) / 2),
        },
        "id_flag_rate": {
            "alpha": ALPHA,
            "observed": calibration["observed"],
            "gap_points": calibration["gap_points"],
            "pass": bool(abs(calibration["gap_points"]) <= 1.0),
        },
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return json.loads(
            value.reset_index().to_json(orient="records")
            if not isinstance(value.index, pd.RangeIndex)
            else value.to_json(orient="records")
        )
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small dataset, EfficientNet-Lite0 and its random control only",
    )
    parser.add_argument("--backbones", help=f"comma-separated, from: {', '.join(BACKBONES)}")
    parser.add_argument("--repeats", type=int, help="held-out-subject splits for calibration")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--cache", type=Path, default=HERE / "cache")
    args = parser.parse_args(argv)
    labels = (
        args.backbones.split(",")
        if args.backbones
        else QUICK_BACKBONES
        if args.quick
        else tuple(BACKBONES)
    )
    unknown = [label for label in labels if label not in BACKBONES]
    if unknown:
        parser.error(f"unknown backbone(s) {unknown}; known: {', '.join(BACKBONES)}")
    repeats = args.repeats or (3 if args.quick else 20)
    parameters = QUICK if args.quick else FULL
    started = time.perf_counter()
    data = make_medical_ood_dataset(
        args.cache / ("data-quick" if args.quick else "data"),
        seed=SEED,
        progress=True,
        **parameters,
    )
    print(data.describe(), flush=True)

    results = []
    for label in labels:
        print(f"\n== {label}", flush=True)
        result = evaluate_backbone(BACKBONES[label], data, args.cache, repeats)
        if BACKBONES[label].pretrained:
            result["targets"] = targets(result)
        results.append(result)
        print(result["summary"].round(3).to_string(index=False), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    setup = {
        "quick": args.quick,
        "dataset": parameters,
        "counts": data.counts,
        "alpha": ALPHA,
        "alphas": ALPHAS,
        "repeats": repeats,
        "seed": SEED,
        "near": [s for s in data.counts if SHIFTS[s].group == "near"],
        "far": [s for s in data.counts if SHIFTS[s].group == "far"],
        "seconds": time.perf_counter() - started,
    }
    document = {"setup": setup, "results": [_jsonable(r) for r in results]}
    write_bytes_atomic(args.out / "results.json", json.dumps(document, indent=1).encode())
    for result in results:
        plot_severity(result["curves"], result["backbone"], args.out)
    write_markdown(setup, results, args.out / "results.md")
    print(f"\nresults: {args.out / 'results.md'}, {args.out / 'results.json'}")
    for result in results:
        for name, target in result.get("targets", {}).items():
            verdict = "PASS" if target["pass"] else "MISS"
            print(f"TARGET {name}[{result['backbone']}]: {_target_line(name, target)} -> {verdict}")


def _target_line(name: str, target: dict[str, Any]) -> str:
    if name in ("near_auroc", "far_auroc", "severity1_auroc", "mean_spearman"):
        return (
            f"fmood {target['fmood']:.3f} vs {target['best_baseline']} "
            f"{target['baseline']:.3f} (margin {target['margin']:+.3f})"
        )
    if name == "id_flagged_bh":
        return f"BH at {ALPHA} flags {target['observed']:.3f} of id images"
    if name == "spearman":
        return f"{target['at_least_0.9']} of {target['artifacts']} artifacts with rho >= 0.9"
    return (
        f"observed {target['observed']:.3f} at alpha {target['alpha']} "
        f"({target['gap_points']:+.1f} points)"
    )


if __name__ == "__main__":
    main()
