"""``report``: is a new dataset safe for the model? Embed what is needed, then judge it."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fmood.backbones import Backbone, load
from fmood.progress import stage_line
from fmood.report import ReportSummary, build_report
from fmood.utils.outputs import check_out_dir
from fmood.workflows.sources import DEFAULT_STORE_ROOT, store_for


def report(
    reference: str | Path,
    target: str | Path,
    out_dir: str | Path,
    *,
    backbone: Backbone | str | None = None,
    weights: str | None = None,
    device: str = "auto",
    store_root: str | Path = DEFAULT_STORE_ROOT,
    batch_size: int = 32,
    read_options: dict | None = None,
    progress: bool = True,
    **report_options: Any,
) -> ReportSummary:
    """Write an OOD report of ``target`` against ``reference``.

    Parameters
    ----------
    reference, target : path
        Feature stores, or folders / CSV manifests of images (embedded with ``backbone``
        into ``store_root``, resuming: a second run embeds only new files).
    out_dir : path
        Where ``report.html``, ``scores.csv`` and ``summary.json`` go.
    backbone : Backbone or name, optional
        Needed when either side is images; ``weights`` and ``device`` go to
        :func:`fmood.backbones.load` with a name.
    progress : bool
        A line on stderr as each stage (reference, target, report) starts, and the
        embedding progress of each side (:class:`fmood.progress.Progress`).
    **report_options
        Passed to :func:`fmood.report.build_report` (detector, alpha, k_neighbors, ...).
    """
    check_out_dir(Path(out_dir))  # before minutes of embedding, not after
    if isinstance(backbone, str):
        backbone = load(backbone, weights=weights, device=device)
    embedded = functools.partial(
        store_for,
        backbone=backbone,
        store_root=store_root,
        batch_size=batch_size,
        progress=progress,
        read_options=read_options,
    )
    # One line per stage, each before its own progress: no bar claims a stage is done
    # while the next one (embedding the target, say) is still running.
    stage_line(f"fmood report: stage 1/3, reference {reference}", enabled=progress)
    reference_store = embedded(reference)
    stage_line(f"fmood report: stage 2/3, target {target}", enabled=progress)
    target_store = embedded(target)
    stage_line(
        "fmood report: stage 3/3, detector, scores, neighbours, distance, report", enabled=progress
    )
    return build_report(reference_store, target_store, out_dir, progress=progress, **report_options)
