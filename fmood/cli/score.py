"""``fmood score``: assess target embeddings with a saved detector, write a CSV.

The target is read memory-mapped and scored in chunks of :data:`CHUNK_ROWS` rows, so memory
stays flat in the number of targets: a first pass checks the rows, a second assesses each
chunk into a temporary Parquet spool keeping only ``p_combined`` and ``degree`` per row, the
Benjamini-Hochberg flags are set across all rows, and a third pass writes the CSV chunk by
chunk from the spool.
"""

from __future__ import annotations

import argparse
import mmap
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from fmood.cli.outputs import check_writable, write_text_atomic
from fmood.errors import InvalidInputError

if TYPE_CHECKING:  # numpy, pandas, pyarrow and the detector: imported when the command runs
    import numpy as np
    import pandas as pd

    from fmood.calibration.detector import OODDetector
    from fmood.cli.inputs import EmbeddingSource

HELP = "score target embeddings with a saved detector"
DESCRIPTION = """\
Score target embeddings with a detector saved by 'fmood fit'.

reads:  DETECTOR_DIR, and TARGET (a .npy file of shape (n, d) or a feature store),
        memory-mapped and in chunks: memory does not grow with n
writes: --out, a CSV with one row per target embedding: row, the store's
        metadata (path, ...) when TARGET is a store, each scorer's raw score
        and p-value, p_combined, degree (1 - p_combined), surprise
        (-log10 p_combined), flagged (Benjamini-Hochberg at false-discovery
        rate --alpha across the target), and domain columns if the detector
        has domains. Text cells that a spreadsheet would run as a formula
        (starting with = + - @) are prefixed with a quote (').
prints: the share flagged, the median and max degree, the 5 most OOD rows."""
EXAMPLE = """\
example:
  fmood score --detector detector/ target.npy --out scores.csv --alpha 0.05"""
TOP = 5
#: Target rows assessed at a time: bounds memory (about 25 MB of 768-d float32 per chunk).
CHUNK_ROWS = 8192
_MAX_LISTED_ROWS = 10


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``score`` subcommand to ``commands``."""
    p = commands.add_parser(
        "score",
        parents=parents,
        help=HELP,
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="TARGET", help=".npy file or feature store directory")
    p.add_argument(
        "--detector", required=True, metavar="DETECTOR_DIR", help="directory written by 'fmood fit'"
    )
    p.add_argument("--out", required=True, metavar="SCORES.csv", help="CSV file to write")
    p.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="false-discovery rate of the flags (default: 0.05)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Assess the target chunk by chunk, write the table, print the summary."""
    from fmood.calibration.combine import benjamini_hochberg
    from fmood.calibration.detector import OODDetector
    from fmood.sanitize import printable

    out = check_writable(args.out, "--out", inputs=(args.target, args.detector))
    if not 0.0 < args.alpha < 1.0:
        raise InvalidInputError(f"--alpha must be in (0, 1), got {args.alpha}")
    detector = OODDetector.load(args.detector)
    target = open_target(args.target)
    if target.dim != detector.n_features_in_:
        raise InvalidInputError(
            f"{printable(target.path)} holds {target.dim}-d embeddings, but the detector in "
            f"{printable(args.detector)} was fitted on {detector.n_features_in_}-d ones; "
            "embed both with the same backbone"
        )
    check_rows(target)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent) as d:
        spool = Path(d) / "assessed.parquet"
        p_combined, degree = assess_to_spool(detector, target, spool)
        flagged = benjamini_hochberg(p_combined, args.alpha)
        top = write_table(out, spool, target, flagged)
    print(summary(top, degree, flagged, target, out, args.alpha))


def open_target(path: str | Path) -> EmbeddingSource:
    """The target, its embeddings memory-mapped (not yet checked: see :func:`check_rows`)."""
    from fmood.cli.inputs import EmbeddingSource, load_source
    from fmood.store import FeatureStore

    path = Path(path)
    if path.is_dir():
        store = FeatureStore.open(path)
        return EmbeddingSource(path, store.embeddings, store.metadata.reset_index(drop=True))
    return load_source(path, mmap=True)


def chunks(n: int) -> Iterator[slice]:
    """Consecutive row slices of at most :data:`CHUNK_ROWS` covering ``range(n)``."""
    for start in range(0, n, CHUNK_ROWS):
        yield slice(start, min(start + CHUNK_ROWS, n))


def read_chunk(embeddings: np.ndarray, rows: slice) -> np.ndarray:
    """Rows ``rows`` of ``embeddings`` as a float32 copy, shape (n_rows, n_features).

    The pages of a memory map are released after the copy: a page read from a mapped file
    stays counted in the process's resident memory until it is, so without this reading a
    large target end to end would grow to its full size.
    """
    import numpy as np

    with np.errstate(over="ignore"):  # overflow to float32 becomes inf, refused by check_rows
        chunk = np.array(embeddings[rows], dtype=np.float32, order="C")
    mapped = getattr(embeddings, "_mmap", None)  # np.memmap's mapping (np.load, FeatureStore)
    if mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)  # read-only file pages: reread from the page cache
    return chunk


def check_rows(target: EmbeddingSource) -> None:
    """Refuse an empty target or one with non-finite rows (all of them named), chunk by chunk."""
    import numpy as np

    from fmood._validation import nonfinite_rows
    from fmood.sanitize import printable

    n = target.embeddings.shape[0]
    if n == 0:
        raise InvalidInputError(f"{printable(target.path)} holds no embeddings")
    bad = []
    for rows in chunks(n):
        bad.append(nonfinite_rows(read_chunk(target.embeddings, rows)) + rows.start)
    bad_rows = np.concatenate(bad)
    if bad_rows.size:
        listed = ", ".join(map(str, bad_rows[:_MAX_LISTED_ROWS]))
        more = (
            f" and {bad_rows.size - _MAX_LISTED_ROWS} more"
            if bad_rows.size > _MAX_LISTED_ROWS
            else ""
        )
        raise InvalidInputError(
            f"{printable(target.path)} has NaN or infinite values in {bad_rows.size} row(s): "
            f"{listed}{more}; drop them or use fmood.drop_nonfinite(X)"
        )


def assess_to_spool(
    detector: OODDetector, target: EmbeddingSource, spool: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Assess the target chunk by chunk into Parquet file ``spool`` (one row group a chunk).

    Returns ``p_combined`` and ``degree`` of every row, each of shape (n_samples,). The
    ``flagged`` column is left out: it depends on all rows (:func:`tables_from_spool`).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = target.embeddings.shape[0]
    p_combined, degree = np.empty(n), np.empty(n)
    writer = None
    try:
        for rows in chunks(n):
            assessed = detector.assess(read_chunk(target.embeddings, rows), alpha=None)
            p_combined[rows] = assessed["p_combined"].to_numpy()
            degree[rows] = assessed["degree"].to_numpy()
            batch = pa.Table.from_pandas(assessed, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(spool, batch.schema)
            writer.write_table(batch)
    finally:
        if writer is not None:
            writer.close()
    return p_combined, degree


def tables_from_spool(
    spool: Path, target: EmbeddingSource, flagged: np.ndarray
) -> Iterator[pd.DataFrame]:
    """The final table chunk by chunk: :func:`scores_table` of each spooled chunk, flagged."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(spool)
    for group, rows in enumerate(chunks(len(flagged))):
        assessed = file.read_row_group(group).to_pandas()
        assessed["flagged"] = flagged[rows]
        yield scores_table(target, assessed, start=rows.start)


def write_table(
    out: Path, spool: Path, target: EmbeddingSource, flagged: np.ndarray
) -> pd.DataFrame:
    """Write the CSV to ``out`` chunk by chunk (formula cells quoted); return its most OOD rows.

    The :data:`TOP` rows of highest surprise (earlier rows first on ties) are returned as
    read, unquoted.
    """
    import pandas as pd

    from fmood.sanitize import csv_safe

    bests: list[pd.DataFrame] = []  # each chunk's top rows, in row order

    def write(f: TextIO) -> None:
        for i, table in enumerate(tables_from_spool(spool, target, flagged)):
            csv_safe(table).to_csv(f, index=False, header=i == 0)
            bests.append(table.nlargest(TOP, "surprise"))

    write_text_atomic(out, write)
    return pd.concat(bests).nlargest(TOP, "surprise")


def scores_table(target: EmbeddingSource, assessed: pd.DataFrame, start: int = 0) -> pd.DataFrame:
    """``row``, the target's metadata (renamed ``meta_<name>`` on a clash), then ``assessed``.

    ``assessed`` holds rows ``start, start + 1, ...`` of the target.
    """
    import numpy as np
    import pandas as pd

    stop = start + len(assessed)
    parts = [pd.DataFrame({"row": np.arange(start, stop)})]
    if target.metadata is not None:
        taken = {"row", *assessed.columns}
        meta = target.metadata.iloc[start:stop].reset_index(drop=True)
        parts.append(meta.rename(columns={c: f"meta_{c}" for c in meta.columns if c in taken}))
    return pd.concat([*parts, assessed.reset_index(drop=True)], axis=1)


def summary(
    top: pd.DataFrame,
    degree: np.ndarray,
    flagged: np.ndarray,
    target: EmbeddingSource,
    out: Path,
    alpha: float,
) -> str:
    """Share flagged, degree median/max, and the most OOD rows (``top``), printable."""
    import numpy as np

    from fmood.sanitize import printable, printable_table

    n = len(degree)
    n_flagged = int(flagged.sum())
    shown = printable_table(
        top[
            ["row"]
            + (["path"] if "path" in top.columns else [])
            + ["degree", "surprise", "flagged"]
        ]
    )
    return "\n".join(
        [
            f"scored {n} embeddings from {printable(target.path)}; table written to {printable(out)}",
            f"flagged at FDR {alpha:g}: {n_flagged} of {n} ({n_flagged / n:.1%})",
            f"degree: median {np.median(degree):.4f}, max {degree.max():.4f}",
            f"most OOD rows:\n{shown.to_string(index=False)}",
        ]
    )
