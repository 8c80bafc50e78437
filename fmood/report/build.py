"""``build_report``: judge a target dataset against a reference and write the report."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmood._validation import check_positive_int
from fmood._version import __version__
from fmood.distances import DistanceResult, dataset_distance, get_distance
from fmood.errors import InvalidInputError
from fmood.progress import stage_line
from fmood.report import analysis, gallery, groups, html, outputs, plots
from fmood.report.inputs import (
    DEFAULT_GROUPS_COLUMN,
    DetectorLike,
    StoreLike,
    check_same_backbone,
    describe,
    groups_of,
    open_store,
    resolve_detector,
    resolve_groups_column,
)
from fmood.report.thumbnails import ThumbnailMaker
from fmood.report.verdict import judge, next_steps, small_reference_note, status_rule
from fmood.sanitize import printable
from fmood.store import FeatureStore
from fmood.utils.outputs import check_out_dir

#: Bootstrap replicates for the confidence interval of the headline distance.
N_BOOTSTRAP = 200
#: Null splits for the headline distance's null level.
N_NULL = 5
_STEPS = (
    "stores",
    "detector",
    "scores",
    "neighbours",
    "distance",
    "groups",
    "figures",
    "thumbnails",
    "write",
)


@dataclass(frozen=True)
class ReportSummary:
    """Where a report was written and its headline.

    Attributes
    ----------
    out_dir : Path
    status : str
        "in-distribution", "shifted" or "strongly shifted" (see :mod:`fmood.report.verdict`).
    verdict : str
        The headline sentence.
    flagged_share : float
        Share of target images flagged at the chosen false-discovery rate.
    distance_ratio : float or None
        Dataset distance over its null level (None when undefined).
    html_path, scores_path, summary_path : Path
    """

    out_dir: Path
    status: str
    verdict: str
    flagged_share: float
    distance_ratio: float | None
    html_path: Path
    scores_path: Path
    summary_path: Path

    def __str__(self) -> str:
        return (
            f"fmood report ({self.status}) written to {printable(self.html_path)}\n"
            f"{printable(self.verdict)}\nper-image scores: {printable(self.scores_path)}; "
            f"numbers: {printable(self.summary_path)}"
        )


def build_report(
    reference: StoreLike,
    target: StoreLike,
    out_dir: str | Path,
    *,
    detector: DetectorLike = None,
    groups_column: str | None = DEFAULT_GROUPS_COLUMN,
    domains_column: str | None = None,
    alpha: float = 0.05,
    k_neighbors: int = 5,
    n_top: int = 12,
    n_borderline: int = 8,
    distance: str = "mmd",
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
    progress: bool = True,
) -> ReportSummary:
    """Judge ``target`` against ``reference`` and write an HTML report, scores and numbers.

    Writes ``report.html`` (one self-contained file: inline CSS and images, no scripts, no
    external resources), ``scores.csv`` (one row per target image) and ``summary.json`` (the
    numbers behind the verdict, strict JSON) into ``out_dir``. The files are built in a
    staging directory that then replaces ``out_dir`` whole, so a failed run leaves an earlier
    report there intact.

    Parameters
    ----------
    reference, target : FeatureStore or path
        Feature stores embedded with the same backbone (same fingerprint and dimension).
    out_dir : path
        New, empty, or holding an earlier report (which is replaced).
    detector : OODDetector, path to a saved one, or None
        None fits ``OODDetector(random_state=seed)`` on the reference, patient-aware when
        ``groups_column`` exists and domain-calibrated on ``domains_column`` when given.
    groups_column : str or None
        Patient (or volume) column: calibration split, bootstrap and null level keep each
        group whole. The default, ``"patient"``, is used only when present; any other name
        must be a reference metadata column.
    domains_column : str or None
        Site or scanner column of the reference for domain-wise calibration (only when the
        detector is fitted here).
    alpha : float in (0, 1)
        False-discovery rate of the flags.
    k_neighbors : int
        Nearest reference images listed per target image (capped at the reference size).
    n_top : int
        Most-OOD distinct target images shown with their neighbours (one per cluster or
        file; see :func:`fmood.report.analysis.distinct_most_ood`).
    n_borderline : int
        Images shown nearest the flag threshold, half just flagged and half just not.
    distance : str
        Dataset distance of the verdict (``fmood.distances.available_distances()``).
    n_bootstrap : int
        Bootstrap replicates for the distance's confidence interval.
    seed : int
        Seed of everything random (detector split, distance resampling, map subsets):
        a fixed seed gives the same numbers.
    progress : bool
        Show a progress bar over the steps.

    Returns
    -------
    ReportSummary

    Raises
    ------
    StoreMismatchError
        The stores (or the detector) come from different backbones; the message names both.
    InvalidInputError
        Bad parameters, a missing ``groups_column``/``domains_column``, or an ``out_dir``
        that is a file or a non-empty directory without an earlier report.
    """
    started = time.perf_counter()
    _check_params(alpha, seed)
    get_distance(distance)  # an unknown name fails now, not after fitting the detector
    k_neighbors = check_positive_int(k_neighbors, "k_neighbors")
    n_top = check_positive_int(n_top, "n_top")
    n_borderline = check_positive_int(n_borderline, "n_borderline")
    out = check_out_dir(out_dir)
    stage_line(f"fmood report: 1/{len(_STEPS)} {_STEPS[0]}", enabled=progress)
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def done(step: str) -> None:
        now = time.perf_counter()
        timings[step] = round(now - clock[0], 3)
        clock[0] = now
        following = _STEPS.index(step) + 1
        if following < len(_STEPS):
            stage_line(
                f"fmood report: {following + 1}/{len(_STEPS)} {_STEPS[following]}", enabled=progress
            )

    ref_store, tgt_store = open_store(reference, "reference"), open_store(target, "target")
    check_same_backbone(ref_store, tgt_store)
    X_ref = np.array(ref_store.embeddings, dtype=np.float32)
    X_tgt = np.array(tgt_store.embeddings, dtype=np.float32)
    ref_meta = ref_store.metadata.reset_index(drop=True)
    tgt_meta = tgt_store.metadata.reset_index(drop=True)
    groups_column = resolve_groups_column(ref_store, groups_column)
    groups_ref, groups_tgt = groups_of(ref_meta, groups_column), groups_of(tgt_meta, groups_column)
    done("stores")

    fitted, detector_source = resolve_detector(
        detector, ref_store, X_ref, groups=groups_ref, domains_column=domains_column, seed=seed
    )
    done("detector")

    table = fitted.assess(X_tgt, alpha)
    calibration_p = analysis.calibration_pvalues(fitted)
    flagged = table["flagged"].to_numpy(dtype=bool)
    done("scores")

    k = min(k_neighbors, len(ref_store))
    found = ref_store.nearest(X_tgt, k)
    done("neighbours")

    result = dataset_distance(
        X_ref,
        X_tgt,
        method=distance,
        n_bootstrap=n_bootstrap,
        n_null=N_NULL,
        random_state=seed,
        groups_a=groups_ref,
        groups_b=groups_tgt,
    )
    n_flagged = int(flagged.sum())
    flagged_share = n_flagged / len(table)
    caveat = small_reference_note(fitted)
    verdict = judge(
        result, flagged_share, n_flagged, len(table), alpha, small_reference=caveat is not None
    )
    done("distance")

    groupings, left_out = groups.choose_groupings(tgt_meta, exclude=(groups_column,))
    columns = [grouping.column for grouping in groupings]
    breakdown = {
        grouping.column: groups.breakdown(
            grouping,
            tgt_meta,
            ref_meta,
            table,
            X_ref,
            X_tgt,
            method=distance,
            groups_reference=groups_ref,
            groups_target=groups_tgt,
            seed=seed,
        )
        for grouping in groupings
    }
    done("groups")

    agreement = analysis.scorer_agreement(table, list(fitted.scorer_names_), alpha, n_top)
    mapped = analysis.embedding_map(X_ref, X_tgt, seed)
    p_combined = table["p_combined"].to_numpy()
    band = analysis.borderline_band(p_combined, flagged, alpha, (n_borderline + 1) // 2)
    degree_plot = plots.degree_figure(p_combined, calibration_p, band.threshold, alpha)
    map_plot = plots.map_figure(mapped, flagged)
    done("figures")

    X_near = _in_metric(X_tgt, ref_store.metric)
    distinct = analysis.distinct_most_ood(
        table, X_near, found.distances[:, 0], n_top, keys=_source_keys(tgt_meta)
    )
    top_rows = distinct.rows
    similar_notes = [
        f"(+{n} similar {'flagged ' if n_flagged else ''}image{'s' if n != 1 else ''})" if n else ""
        for n in distinct.n_similar
    ]

    maker = ThumbnailMaker()  # one cache across the three galleries

    def show(rows: np.ndarray, notes: list[str]) -> list[gallery.Case]:
        return gallery.build_cases(
            rows,
            table,
            tgt_meta,
            ref_meta,
            found.ids,
            found.distances,
            columns,
            notes=notes,
            make_thumbnail=maker,
        )

    cases = show(top_rows, similar_notes)
    borderline_flagged = show(
        band.flagged, [_threshold_note(p_combined[r], band.threshold) for r in band.flagged]
    )
    borderline_clear = show(
        band.not_flagged, [_threshold_note(p_combined[r], band.threshold) for r in band.not_flagged]
    )
    done("thumbnails")

    parameters = {
        "alpha": alpha,
        "k_neighbors": k,
        "n_top": n_top,
        "n_borderline": n_borderline,
        "distance": distance,
        "n_bootstrap": n_bootstrap,
        "n_null": N_NULL,
        "seed": seed,
        "groups_column": groups_column,
        "domains_column": domains_column,
    }
    detector_info = {
        "source": detector_source,
        "scorers": list(fitted.scorer_names_),
        "n_calibration": int(calibration_p.size),
        "domains": None if fitted.domains_ is None else [str(d) for d in fitted.domains_],
    }
    backbone = describe(ref_store)
    run_time = time.perf_counter() - started
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = html.Page(
        verdict=verdict,
        distance=result,
        alpha=alpha,
        n_reference=len(ref_store),
        n_target=len(tgt_store),
        n_flagged=n_flagged,
        n_calibration=int(calibration_p.size),
        reference_name=str(ref_store.path),
        target_name=str(tgt_store.path),
        backbone=backbone,
        metric=_metric_words(ref_store.metric),
        degree_plot=degree_plot,
        map_plot=map_plot,
        embedding_map=mapped,
        groups=breakdown,
        binned=[g.column for g in groupings if g.edges is not None],
        left_out=left_out,
        cases=cases,
        borderline_flagged=borderline_flagged,
        borderline_clear=borderline_clear,
        bh_threshold=band.threshold,
        next_steps=next_steps(
            verdict,
            n_flagged,
            len(table),
            band.flagged.size + band.not_flagged.size,
            breakdown,
            alpha,
            caveat,
        ),
        agreement=agreement,
        k_neighbors=k,
        n_top=n_top,
        about=_about(ref_store, tgt_store, result, detector_info, parameters, run_time, generated),
    )
    document = html.render(page)
    summary = {
        "status": verdict.status,
        "verdict": verdict.sentence,
        "status_rule": status_rule(result.method),
        "distance_level": verdict.distance_level,
        "flagged_level": verdict.flagged_level,
        "n_reference": len(ref_store),
        "n_target": len(tgt_store),
        "alpha": alpha,
        "n_flagged": n_flagged,
        "flagged_share": flagged_share,
        "small_reference": caveat,
        "median_degree": float(np.median(table["degree"])),
        "distance": result.to_dict(),
        "groups": breakdown,
        "groups_left_out": dict(left_out),
        "scorer_agreement": agreement,
        "most_ood_target_ids": [int(r) for r in top_rows],
        "most_ood_similar_counts": [int(n) for n in distinct.n_similar],
        "bh_threshold": band.threshold,
        "borderline_target_ids": {
            "flagged": [int(r) for r in band.flagged],
            "not_flagged": [int(r) for r in band.not_flagged],
        },
        "detector": detector_info,
        "parameters": parameters,
        "reference_store": str(ref_store.path),
        "target_store": str(tgt_store.path),
        "backbone_fingerprint": (
            None if ref_store.fingerprint is None else ref_store.fingerprint.to_dict()
        ),
        "metric": ref_store.metric,
        "embedding_map": mapped.method,
        "fmood_version": __version__,
        "generated": generated,
        "timings_s": timings,
    }
    scores = outputs.scores_table(tgt_meta, table, found.ids, found.distances)
    timings["total_before_write"] = round(time.perf_counter() - started, 3)
    paths = outputs.write_report(out, document, scores, summary)
    done("write")
    stage_line(f"fmood report: finished in {time.perf_counter() - started:.1f} s", enabled=progress)
    return ReportSummary(
        out_dir=out,
        status=verdict.status,
        verdict=verdict.sentence,
        flagged_share=flagged_share,
        distance_ratio=_finite_or_none(result.ratio),
        html_path=paths["html"],
        scores_path=paths["scores"],
        summary_path=paths["summary"],
    )


def _check_params(alpha: object, seed: object) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must be a number in (0, 1), got {alpha!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidInputError(f"seed must be an integer, got {seed!r}")


def _in_metric(X: np.ndarray, metric: str) -> np.ndarray:
    """``X`` as the store measures distances: unit length under the cosine metric."""
    if metric != "cosine":
        return X
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def _source_keys(metadata: pd.DataFrame) -> pd.Series | None:
    """The file of each image (frames of one file are one case), when paths are stored."""
    return metadata["path"] if "path" in metadata.columns else None


def _threshold_note(p: float, threshold: float) -> str:
    return f"(p = {p:.2g}, {p / threshold:.2g}x the threshold)"


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _metric_words(metric: str) -> str:
    if metric == "cosine":
        return "Euclidean distance between unit-length embeddings (cosine metric)"
    return "Euclidean distance between embeddings"


def _about(
    ref_store: FeatureStore,
    tgt_store: FeatureStore,
    result: DistanceResult,
    detector_info: dict[str, Any],
    parameters: dict[str, Any],
    run_time: float,
    generated: str,
) -> list[tuple[str, str]]:
    """The footer's labelled lines."""
    fp = ref_store.fingerprint
    backbone = (
        "unknown (the stores carry no fingerprint)"
        if fp is None
        else f"{fp.name}; weights sha256 {fp.weights_sha256 or 'unknown'}; "
        f"preprocessing {fp.preprocessing or '(not recorded)'}"
    )
    domains = detector_info["domains"]
    return [
        ("Backbone fingerprint", backbone),
        (
            "Reference store",
            f"{ref_store.path} ({len(ref_store)} x {ref_store.dim}, metric {ref_store.metric})",
        ),
        ("Target store", f"{tgt_store.path} ({len(tgt_store)} x {tgt_store.dim})"),
        (
            "Detector",
            (
                f"{detector_info['source']}; scorers {', '.join(detector_info['scorers'])}; "
                f"calibration part {detector_info['n_calibration']} images"
                + (f"; calibrated per domain ({', '.join(domains)})" if domains else "")
            ),
        ),
        ("Dataset distance", str(result)),
        ("Parameters", ", ".join(f"{k}={v}" for k, v in parameters.items())),
        ("fmood version", __version__),
        ("Run time", f"{run_time:.1f} s (figures and thumbnails included), generated {generated}"),
    ]
