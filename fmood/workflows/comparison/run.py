"""``compare``: which backbone for a target hospital? Every backbone judged on the same data.

For each backbone the reference and target are embedded (once: stores are reused on a rerun),
then measured the same way (:func:`~.record.measure_backbone`), one
:class:`~.record.BackboneMeasures` record each; the ranked table and ``summary.json`` are both
read off those records (:mod:`.output`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from fmood.sanitize import printable
from fmood.utils.outputs import check_out_dir
from fmood.workflows.comparison.config import (
    BackboneLike,
    CompareConfig,
    check_source,
    parse_backbones,
)
from fmood.workflows.comparison.output import RANKINGS, ranked_table, write_comparison
from fmood.workflows.comparison.record import BackboneMeasures, measure_backbone


@dataclass(frozen=True)
class ComparisonResult:
    """Where a comparison was written, its table, and the records the table was read from.

    Attributes
    ----------
    out_dir : Path
    table : DataFrame
        One row per backbone, ranked (the rows of ``comparison.csv``).
    rank_by : str
        The column the ranking sorts by.
    csv_path, markdown_path, html_path, summary_path : Path
    measures : tuple of BackboneMeasures
        One record per backbone, in the order given (not ranked).
    config : CompareConfig or None
        The settings the comparison ran with.
    """

    out_dir: Path
    table: pd.DataFrame = field(repr=False)
    rank_by: str
    csv_path: Path
    markdown_path: Path
    html_path: Path
    summary_path: Path
    measures: tuple[BackboneMeasures, ...] = field(default=(), repr=False)
    config: CompareConfig | None = field(default=None, repr=False)

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


def compare(
    backbones: str | Sequence[BackboneLike],
    reference: str | Path,
    target: str | Path,
    out_dir: str | Path,
    *,
    config: CompareConfig | None = None,
    **settings: Any,
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
    config : CompareConfig, optional
        The settings; default ``CompareConfig()``.
    **settings
        Fields of :class:`CompareConfig` (``label_column``, ``store_root``, ``device``,
        ``seed``, ``alpha``, ``rank_by``, ``groups_column``, ``batch_size``,
        ``read_options``, ``throughput_sample``, ``progress``), each replacing that field of
        ``config``.

    Returns
    -------
    ComparisonResult

    Raises
    ------
    BackboneError
        Unknown backbone name (raised before anything is embedded or written).
    InvalidInputError
        Bad settings, a missing label column, or an ``out_dir`` that is a file or a
        non-empty directory without an earlier comparison.
    TypeError
        A keyword that is not a field of :class:`CompareConfig`.
    """
    started = time.perf_counter()
    config = replace(config or CompareConfig(), **settings)
    specs = parse_backbones(backbones)
    out = check_out_dir(out_dir)
    for role, source in (("reference", reference), ("target", target)):
        check_source(Path(source), role, config.label_column)

    measures = []
    for i, spec in enumerate(specs, start=1):
        if config.progress:
            print(f"fmood compare [{i}/{len(specs)}] {printable(spec.label)}", flush=True)
        measures.append(measure_backbone(spec, Path(reference), Path(target), config))

    table = ranked_table(
        [m.row() for m in measures], config.rank_by, with_labels=config.with_labels
    )
    setup = {
        "reference": str(reference),
        "target": str(target),
        **config.recorded(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    files = write_comparison(out, table, measures, setup)
    return ComparisonResult(
        out_dir=out,
        table=table,
        rank_by=config.rank_by,
        csv_path=files.csv,
        markdown_path=files.markdown,
        html_path=files.html,
        summary_path=files.summary,
        measures=tuple(measures),
        config=config,
    )
