"""The benchmark's tables, computed from per-image scores and what is known of each image.

Scores are higher = more OOD. Detection compares every OOD set with the in-distribution test
set (new subjects): AUROC, FPR at 95% TPR with **ID as the positive class** (the share of OOD
images accepted when 95% of ID images are accepted: ODIN / energy / most papers; OpenOOD
v1.5 and pytorch-ood take OOD as positive, reported as ``fpr95_ood_positive``), AUPR-in
(ID positive) and AUPR-out (OOD positive), by average precision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from fmood.metrics import augrc, aurc, detection_report, severity_spearman


def detection_table(
    scores: Mapping[str, np.ndarray],
    sets: ArrayLike,
    set_groups: Mapping[str, str],
    id_set: str = "id",
) -> pd.DataFrame:
    """One row per (method, OOD set): its detection metrics against ``id_set``.

    Parameters
    ----------
    scores : mapping of method to ndarray of shape (n,)
    sets : array-like of shape (n,)
        The set each image belongs to.
    set_groups : mapping of set to group
        ``near`` / ``far`` per OOD set (sets not listed, other than ``id_set``, are skipped).
    """
    sets = np.asarray(sets).astype(str)
    is_id = sets == id_set
    rows = []
    for method, values in scores.items():
        for name, group in set_groups.items():
            rows_of_set = sets == name
            if name == id_set or not rows_of_set.any():
                continue
            report = detection_report(values[is_id], values[rows_of_set])
            rows.append(
                {
                    "method": method,
                    "set": name,
                    "group": group,
                    "n": int(rows_of_set.sum()),
                    "auroc": report["auroc"],
                    "fpr95": report["fpr_at_95_tpr_id"],
                    "fpr95_ood_positive": report["fpr_at_95_tpr_ood"],
                    "aupr_in": report["aupr_in"],
                    "aupr_out": report["aupr_out"],
                }
            )
    return pd.DataFrame(rows)


def group_summary(detection: pd.DataFrame) -> pd.DataFrame:
    """Per method: the near and far averages (over sets) of AUROC and FPR95, best near first."""
    means = detection.groupby(["method", "group"])[["auroc", "fpr95"]].mean().unstack("group")
    assert isinstance(means, pd.DataFrame)  # unstacking a frame gives a frame
    means.columns = [f"{group}_{metric}" for metric, group in means.columns.to_flat_index()]
    order = [c for c in ("near_auroc", "far_auroc", "near_fpr95", "far_fpr95") if c in means]
    return means[order].sort_values(order[0], ascending=False).reset_index()


def artifact_rows(manifest: pd.DataFrame, id_set: str = "id") -> dict[str, np.ndarray]:
    """Per artifact type: row positions of its images and of the clean slices they came from.

    The clean source slices enter at severity 0, so the correlation covers "none" to "worst".
    """
    clean = manifest["shift"].to_numpy() == id_set
    key = (manifest["patient"].astype(str) + "/" + manifest["source_frame"].astype(str)).to_numpy()
    out = {}
    for shift in pd.unique(manifest["shift"]):
        if str(shift).startswith("artifact-"):
            rows = manifest["shift"].to_numpy() == shift
            sources = clean & np.isin(key, key[rows])
            out[str(shift).removeprefix("artifact-")] = np.flatnonzero(rows | sources)
    return out


def severity_table(scores: Mapping[str, np.ndarray], manifest: pd.DataFrame) -> pd.DataFrame:
    """Spearman of each method's score with artifact severity, per artifact type.

    Rows: methods; columns: artifact types, then ``mean``. The clean source slices count as
    severity 0. A method that gives them all one score gets NaN.
    """
    severity = manifest["severity"].fillna(0).to_numpy(dtype=float)
    artifacts = artifact_rows(manifest)
    table = pd.DataFrame(
        {
            kind: {
                method: _spearman(values[rows], severity[rows]) for method, values in scores.items()
            }
            for kind, rows in artifacts.items()
        }
    )
    table["mean"] = table.mean(axis=1)
    return table.rename_axis("method")


def _spearman(values: np.ndarray, severity: np.ndarray) -> float:
    """Spearman's rho, NaN where a method gives every image the same score."""
    if np.unique(values).size == 1:
        return float("nan")
    return severity_spearman(values, severity)[0]


def severity_curves(
    scores: Mapping[str, np.ndarray], manifest: pd.DataFrame, id_set: str = "id"
) -> pd.DataFrame:
    """Median ID-percentile of each method's score per (artifact, severity).

    The percentile (share of in-distribution test images scoring lower) puts methods with
    different score scales on one axis: 0.5 is a typical clean slice, 1 is beyond all of them.
    """
    severity = manifest["severity"].fillna(0).to_numpy(dtype=float)
    is_id = manifest["shift"].to_numpy() == id_set
    artifacts = artifact_rows(manifest, id_set)
    rows = []
    for method, values in scores.items():
        reference = np.sort(values[is_id])
        percentile = np.searchsorted(reference, values, side="left") / len(reference)
        for kind, where in artifacts.items():
            for level in np.unique(severity[where]):
                chosen = where[severity[where] == level]
                rows.append(
                    {
                        "method": method,
                        "artifact": kind,
                        "severity": level,
                        "median_id_percentile": float(np.median(percentile[chosen])),
                    }
                )
    return pd.DataFrame(rows)


def calibration_table(pvalues: Sequence[np.ndarray], alphas: Sequence[float]) -> pd.DataFrame:
    """Observed share of in-distribution images with p <= alpha, against alpha.

    Parameters
    ----------
    pvalues : sequence of ndarray
        Combined p-values of in-distribution test images, one array per repeated split.
    alphas : sequence of float

    Returns
    -------
    DataFrame with one row per alpha: ``observed`` (pooled over splits), the mean, standard
    deviation, smallest and largest of the per-split rates, and ``gap_points`` = 100 x
    (observed - alpha). Slices of one subject move together (a subject unlike the
    calibration subjects has many of its slices flagged), so the spread over splits, not a
    binomial interval over slices, is the uncertainty to read.
    """
    pooled = np.concatenate([np.asarray(p, dtype=float) for p in pvalues])
    rows = []
    for alpha in alphas:
        observed = float(np.mean(pooled <= alpha))
        per_split = np.array([np.mean(np.asarray(p) <= alpha) for p in pvalues])
        rows.append(
            {
                "alpha": alpha,
                "observed": observed,
                "split_mean": float(per_split.mean()),
                "split_sd": float(per_split.std(ddof=1)) if len(per_split) > 1 else float("nan"),
                "split_min": float(per_split.min()),
                "split_max": float(per_split.max()),
                "gap_points": 100 * (observed - alpha),
                "n_images": len(pooled),
                "n_splits": len(pvalues),
            }
        )
    return pd.DataFrame(rows)


def failure_table(uncertainty: Mapping[str, np.ndarray], errors: ArrayLike) -> pd.DataFrame:
    """AURC and AUGRC of each uncertainty for a classifier's errors (lower is better)."""
    errors = np.asarray(errors, dtype=bool)
    rows = [
        {"method": name, "aurc": aurc(values, errors), "augrc": augrc(values, errors)}
        for name, values in uncertainty.items()
    ]
    table = pd.DataFrame(rows).sort_values("augrc").reset_index(drop=True)
    table.attrs["error_rate"] = float(errors.mean())
    return table
