"""``explain_image``: why was this image flagged? Its degree and its nearest reference images."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fmood.calibration.detector import OODDetector
from fmood.sanitize import printable
from fmood.store import FeatureStore
from fmood.workflows.sources import backbone_of_store


@dataclass(frozen=True)
class ImageExplanation:
    """One image file judged against a feature store.

    Attributes
    ----------
    image : str
        The image file.
    frames : list of int or None
        One entry per embedded frame or slice (None for a 2-D image).
    assessment : DataFrame
        One row per frame: :meth:`OODDetector.assess` (raw scores, ``p_combined``,
        ``degree``, ``surprise``, ``flagged``).
    neighbors : DataFrame
        One row per (frame, neighbour): ``query`` (the frame's row), ``rank``, ``id``,
        ``distance`` and the store's metadata.
    """

    image: str
    frames: list[int | None]
    assessment: pd.DataFrame = field(repr=False)
    neighbors: pd.DataFrame = field(repr=False)

    def __str__(self) -> str:
        blocks = []
        for q, frame in enumerate(self.frames):
            row = self.assessment.iloc[q]
            where = "" if frame is None else f" frame {frame}"
            rows = self.neighbors[self.neighbors["query"] == q].drop(columns="query")
            rows = rows.map(lambda v: printable(v) if isinstance(v, str) else v)
            blocks.append(
                f"{printable(self.image)}{where}: " + ", ".join(f"{k} {v}" for k, v in _facts(row))
                + f"\n{rows.to_string(index=False)}"
            )
        return "\n\n".join(blocks)

    def write_html(self, out: str | Path) -> Path:
        """Write a self-contained thumbnail panel: each frame beside its neighbours."""
        from fmood.report.panel import write_panel

        fields = [_facts(self.assessment.iloc[q]) for q in range(len(self.frames))]
        write_panel(Path(out), self.image, self.frames, fields, self.neighbors)
        return Path(out)


def _facts(row: pd.Series) -> list[tuple[str, str]]:
    return [("degree", f"{row['degree']:.4f}"), ("p-value", f"{row['p_combined']:.3g}"),
            ("flagged at 5% FDR", "yes" if row["flagged"] else "no")]


def explain_image(
    store: FeatureStore | str | Path,
    image: str | Path,
    *,
    k: int = 8,
    detector: OODDetector | str | Path | None = None,
    weights: str | None = None,
    device: str = "auto",
) -> ImageExplanation:
    """Embed ``image`` with ``store``'s own backbone, judge it, and find its neighbours.

    Parameters
    ----------
    store : FeatureStore or path
        The reference feature store; its fingerprint rebuilds the backbone (a mismatch
        with ``weights`` is an error, never a silent mix of feature spaces).
    image : path
        An image file (PNG/JPEG/TIFF, DICOM, NIfTI: one query per frame or slice).
    k : int
        Neighbours per frame.
    detector : OODDetector or path, optional
        A fitted detector (or one saved by ``fmood fit``); default: fitted on the store,
        patients kept whole when a ``patient`` column exists.
    weights, device
        For rebuilding the backbone (:func:`fmood.workflows.backbone_of_store`).
    """
    from fmood.io import read_image

    if not isinstance(store, FeatureStore):
        store = FeatureStore.open(store)
    images = read_image(image)  # a missing or unreadable file fails before the model loads
    backbone = backbone_of_store(store, weights=weights, device=device)
    queries = backbone.embed(images)
    if detector is None:
        meta = store.metadata
        groups = meta["patient"].astype(str).to_numpy() if "patient" in meta.columns else None
        detector = OODDetector().fit(store.embeddings, groups=groups)
    elif not isinstance(detector, OODDetector):
        detector = OODDetector.load(detector)
    return ImageExplanation(
        image=str(image),
        frames=[im.frame for im in images],
        assessment=detector.assess(queries),
        neighbors=store.nearest(queries, k=k).table(),
    )
