"""The numbers behind the report that are not the headline: calibration degrees, the 2-D map,
scorer agreement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.decomposition import PCA

from fmood.calibration.combine import benjamini_hochberg, cauchy_statistic
from fmood.calibration.detector import OODDetector

#: Points per side drawn on the 2-D map (a random subset beyond this).
MAP_MAX_POINTS = 3000
#: Dimensions PCA keeps before UMAP, which is slow and noisy on raw 1,000-d inputs.
UMAP_PCA_DIMS = 50


def calibration_pvalues(detector: OODDetector) -> np.ndarray:
    """Leave-one-out combined p-value of each image in the detector's calibration part.

    Each calibration image is scored as a new image would be, against the other calibration
    images of the pooled calibration part: per-scorer conformal p-values
    ``(1 + #{j != i : s_j >= s_i}) / n``, their Cauchy combination, and that statistic's own
    leave-one-out conformal p-value. The result is (close to) uniform by construction; it is
    the in-distribution yardstick the target's degrees are drawn against.

    Returns
    -------
    ndarray of shape (n_calibration,), values in (0, 1]
    """
    scores = np.asarray(detector.calibration_scores_, dtype=np.float64)
    per_scorer = np.column_stack([_loo_pvalues(col) for col in scores.T])
    return _loo_pvalues(cauchy_statistic(np.log(per_scorer)))


def _loo_pvalues(values: np.ndarray) -> np.ndarray:
    n = values.size
    at_or_above = n - np.searchsorted(np.sort(values), values, side="left")  # includes itself
    return at_or_above / n


@dataclass(frozen=True)
class EmbeddingMap:
    """2-D coordinates of (a subset of) the reference and the target, for plotting.

    ``target_rows`` are the target rows drawn, so flags can be looked up.
    """

    method: str
    reference: np.ndarray
    target: np.ndarray
    target_rows: np.ndarray
    note: str


def embedding_map(X_reference: np.ndarray, X_target: np.ndarray, seed: int) -> EmbeddingMap:
    """PCA of the pooled embeddings (UMAP after a 50-d PCA when ``umap`` is importable).

    The projection is fitted on reference and target together, so a shift along directions
    the reference barely uses still shows.
    """
    rng = np.random.default_rng(seed)
    ref_rows = _subset(X_reference.shape[0], rng)
    tgt_rows = _subset(X_target.shape[0], rng)
    pooled = np.concatenate([X_reference[ref_rows], X_target[tgt_rows]]).astype(np.float64)
    n_ref = ref_rows.size
    try:
        import umap  # optional
    except ImportError:
        umap = None
    if umap is not None and pooled.shape[0] > 15:
        dims = min(UMAP_PCA_DIMS, *pooled.shape)
        reduced = PCA(dims, svd_solver="randomized", random_state=seed).fit_transform(pooled)
        coords = umap.UMAP(n_components=2, random_state=seed).fit_transform(reduced)
        method, note = "UMAP", f"UMAP (after PCA to {dims} dimensions) of the pooled embeddings"
    else:
        # Randomized SVD: seconds instead of a minute for 6,000 x 1,280, and seeded.
        pca = PCA(2, svd_solver="randomized", random_state=seed)
        coords = pca.fit_transform(pooled)
        share = float(pca.explained_variance_ratio_.sum())
        method = "PCA"
        note = (
            "First two principal components of the pooled embeddings "
            f"({share * 100:.0f}% of the variance)"
        )
    coords = np.asarray(coords, dtype=np.float64)
    return EmbeddingMap(method, coords[:n_ref], coords[n_ref:], tgt_rows, note)


def _subset(n: int, rng: np.random.Generator) -> np.ndarray:
    if n <= MAP_MAX_POINTS:
        return np.arange(n)
    return np.sort(rng.choice(n, MAP_MAX_POINTS, replace=False))


def scorer_agreement(
    table: pd.DataFrame, scorer_names: list[str], alpha: float, n_top: int
) -> dict[str, Any]:
    """How far the detector's scorers agree on the target.

    Returns a dict with ``spearman`` (scorer -> scorer -> Spearman correlation of their raw
    scores; None where undefined, e.g. a constant score) and ``scorers``, one record per
    scorer: its Spearman correlation with the combined surprise, the share of images it flags
    alone (Benjamini-Hochberg at ``alpha`` on its own p-values), the share of the combined
    flags it also flags, and how many of the ``n_top`` most OOD images (combined) are among
    its own ``n_top``.
    """
    n = len(table)
    ranks = np.column_stack([rankdata(table[name].to_numpy()) for name in scorer_names])
    combined_rank = rankdata(table["surprise"].to_numpy())
    matrix = _correlation(np.column_stack([ranks, combined_rank]))
    top = min(n_top, n)
    combined_flags = table["flagged"].to_numpy(dtype=bool)
    combined_top = set(_top(table["surprise"].to_numpy(), top))
    records = []
    for j, name in enumerate(scorer_names):
        alone = benjamini_hochberg(table[f"p_{name}"].to_numpy(), alpha) if n else np.zeros(0, bool)
        records.append(
            {
                "scorer": name,
                "spearman_with_combined": matrix[j][-1],
                "flagged_share_alone": float(alone.mean()) if n else None,
                "share_of_combined_flags": (
                    float(alone[combined_flags].mean()) if combined_flags.any() else None
                ),
                "top_overlap": len(combined_top & set(_top(table[name].to_numpy(), top))),
                "n_top": top,
            }
        )
    spearman = {
        a: {b: matrix[i][j] for j, b in enumerate(scorer_names)} for i, a in enumerate(scorer_names)
    }
    return {"spearman": spearman, "scorers": records}


def _top(values: np.ndarray, n: int) -> np.ndarray:
    """Rows of the ``n`` largest values; ties broken by row order, so the result is stable."""
    return np.argsort(-values, kind="stable")[:n]


def _correlation(ranks: np.ndarray) -> list[list[float | None]]:
    """Pearson correlation of rank columns, None where a column is constant."""
    if ranks.shape[0] < 2:
        return [[None] * ranks.shape[1] for _ in range(ranks.shape[1])]
    centred = ranks - ranks.mean(axis=0)
    norms = np.sqrt((centred**2).sum(axis=0))
    out: list[list[float | None]] = []
    for i in range(ranks.shape[1]):
        row: list[float | None] = []
        for j in range(ranks.shape[1]):
            if norms[i] == 0 or norms[j] == 0:
                row.append(None)
            elif i == j:
                row.append(1.0)
            else:
                value = float(centred[:, i] @ centred[:, j] / (norms[i] * norms[j]))
                row.append(max(-1.0, min(1.0, value)))
        out.append(row)
    return out


def bh_threshold(p_values: np.ndarray, alpha: float) -> float:
    """The Benjamini-Hochberg cut-off on p: images with p at or below it are flagged.

    With k of m images flagged it is ``alpha * k / m``; with none flagged, ``alpha / m``,
    the value the smallest p would have had to reach.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return float(alpha)
    k = int(benjamini_hochberg(p, alpha).sum())
    return float(alpha * max(k, 1) / p.size)


@dataclass(frozen=True)
class Band:
    """Target rows nearest the flag threshold: flagged ones, then not flagged ones.

    Each side is ordered from the threshold outwards (closest first).
    """

    threshold: float
    flagged: np.ndarray
    not_flagged: np.ndarray


def borderline_band(
    p_values: np.ndarray, flagged: np.ndarray, alpha: float, n_per_side: int
) -> Band:
    """The ``n_per_side`` flagged images with the largest p and the ``n_per_side`` unflagged
    images with the smallest p: the decisions a reviewer should check.

    Parameters
    ----------
    p_values : ndarray of shape (n_target,)
        Combined p-values.
    flagged : ndarray of bool, shape (n_target,)
        The Benjamini-Hochberg flags at ``alpha``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    flagged = np.asarray(flagged, dtype=bool)
    rows = np.arange(p.size)
    near_flagged = rows[flagged][np.argsort(-p[flagged], kind="stable")][:n_per_side]
    near_clear = rows[~flagged][np.argsort(p[~flagged], kind="stable")][:n_per_side]
    return Band(bh_threshold(p, alpha), near_flagged, near_clear)


@dataclass(frozen=True)
class Distinct:
    """Most-OOD rows, one per cluster, and how many other candidates each one stands for."""

    rows: np.ndarray
    n_similar: np.ndarray


#: An image joins an already shown one when it lies nearer to it than this share of its own
#: distance to the nearest reference image (crops of one picture, slices of one volume). On the
#: demo data and a plain folder of its PNGs, 1.0 merged all natural photographs into one case
#: and 0.6 split the crops of one histology image; 0.8 keeps one case per source picture.
SAME_CASE_FACTOR = 0.8


def distinct_most_ood(
    table: pd.DataFrame,
    X_target: np.ndarray,
    nearest_reference: np.ndarray,
    n_top: int,
    *,
    keys: pd.Series | None = None,
) -> Distinct:
    """The ``n_top`` most OOD target images that are not near-duplicates of each other.

    Images are taken most surprising first; one is skipped (counted as similar to a shown
    one) when it comes from the same file (``keys``, e.g. the path) as a shown image or lies
    nearer to a shown image than :data:`SAME_CASE_FACTOR` times its distance to its nearest
    reference image. Flagged images are the candidates (all images when none is flagged).

    Parameters
    ----------
    table : DataFrame
        ``OODDetector.assess`` of the target (``surprise``, ``flagged``).
    X_target : ndarray of shape (n_target, dim)
        Target embeddings in the metric of ``nearest_reference``.
    nearest_reference : ndarray of shape (n_target,)
        Distance of each target image to its nearest reference image.
    keys : Series of length n_target, optional
        Source of each image; equal non-missing keys are the same case.
    """
    surprise = table["surprise"].to_numpy()
    flagged = table["flagged"].to_numpy(dtype=bool)
    candidates = np.flatnonzero(flagged) if flagged.any() else np.arange(len(table))
    order = candidates[np.argsort(-surprise[candidates], kind="stable")]
    key_values = None if keys is None else keys.reset_index(drop=True).to_numpy(dtype=object)
    X = np.asarray(X_target, dtype=np.float64)
    shown: list[int] = []
    similar: list[int] = []
    for row in order:
        match = _same_case(row, shown, X, nearest_reference, key_values)
        if match is not None:
            similar[match] += 1
        elif len(shown) < n_top:
            shown.append(int(row))
            similar.append(0)
    return Distinct(np.array(shown, dtype=np.int64), np.array(similar, dtype=np.int64))


def _same_case(
    row: int,
    shown: list[int],
    X: np.ndarray,
    nearest_reference: np.ndarray,
    keys: np.ndarray | None,
) -> int | None:
    """Position in ``shown`` of the case ``row`` belongs to, or None."""
    if not shown:
        return None
    if keys is not None and not pd.isna(keys[row]):
        for position, other in enumerate(shown):
            if keys[other] == keys[row]:
                return position
    gaps = np.linalg.norm(X[shown] - X[row], axis=1)
    nearest = int(np.argmin(gaps))
    return nearest if gaps[nearest] < SAME_CASE_FACTOR * nearest_reference[row] else None
