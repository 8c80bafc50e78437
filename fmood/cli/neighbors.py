"""``fmood neighbors``: the nearest stored images of query embeddings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, cast

from fmood.cli.outputs import check_writable, write_text_atomic
from fmood.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

    from fmood.store import FeatureStore

HELP = "list the nearest feature-store images of query embeddings"
DESCRIPTION = """\
For each query embedding, list the k nearest vectors of a feature store with
their rank, distance, id and metadata (path, site, ...): which reference images
a flagged image resembles most.

reads:  --store, a feature store directory; the queries: --query, a .npy file
        of shape (n, d) or a feature store (its own vectors as queries), or
        --image, an image file (PNG/JPEG/TIFF, DICOM, NIfTI: one query per
        frame or slice) embedded with the store's own backbone (rebuilt from
        the store's fingerprint; pass --weights when they are not the
        backbone's defaults; a mismatch is an error, never a silent mix)
writes: --csv (optional), one row per (query, neighbour), every column;
        --html (optional, with --image), a thumbnail panel: the image beside
        its neighbours with distances and metadata
prints: one block per query, at most 100 characters wide: the query's own
        metadata when QUERY is a store, then its neighbours (file hashes left
        out, paths under their common folder, metadata equal on every row on
        one line, columns that do not fit named: all are in --csv); with
        --image also its OOD degree and surprise (-log10 p-value) against the
        store (a detector fitted on the store, patients kept whole when a
        'patient' column exists, or --detector); then each file written"""
EXAMPLE = """\
examples:
  fmood neighbors --store reference_store/ --query target.npy --rows 0,5 -k 8
  fmood neighbors --store embeddings/site_a --image flagged/case_017.dcm --html case_017.html"""


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``neighbors`` subcommand to ``commands``."""
    p = commands.add_parser(
        "neighbors",
        parents=parents,
        help=HELP,
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--store", required=True, help="feature store directory to search")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--query", metavar="QUERY.npy", help="query embeddings")
    which.add_argument("--image", metavar="IMAGE", help="an image file to embed and look up")
    p.add_argument("--weights", metavar="PATH", help="with --image: the store backbone's weights")
    p.add_argument("--device", default="auto", help="with --image: auto, cpu or cuda[:N]")
    p.add_argument(
        "--detector",
        metavar="DIR",
        help="with --image: a detector saved by 'fmood fit' (default: fit on the store)",
    )
    p.add_argument("--html", metavar="OUT.html", help="with --image: write a thumbnail panel")
    p.add_argument("--rows", metavar="I,J,...", help="query rows to search for (default: all)")
    p.add_argument("-k", type=int, default=8, help="neighbours per query (default: 8)")
    p.add_argument("--csv", metavar="OUT.csv", help="also write the neighbours to this CSV")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Search the store and print (and optionally write) the neighbours."""
    inputs = (args.store, args.query, args.image, args.detector, args.weights)
    out = None if args.csv is None else check_writable(args.csv, "--csv", inputs=inputs)
    if args.image is None and (args.html or args.detector or args.weights):
        raise InvalidInputError("--html, --detector and --weights go with --image")
    html = (
        None
        if args.html is None
        else check_writable(args.html, "--html", inputs=(*inputs, args.csv))
    )
    import numpy as np

    from fmood.cli.inputs import load_source, parse_rows
    from fmood.sanitize import csv_safe, printable
    from fmood.store import FeatureStore

    store = FeatureStore.open(args.store)
    if args.image is not None:
        _run_image(args, store, out, html)
        return
    source = load_source(args.query)
    queries = source.embeddings
    if queries.shape[1] != store.dim:
        raise InvalidInputError(
            f"{printable(args.query)} holds {queries.shape[1]}-d embeddings, but the store "
            f"{printable(args.store)} "
            f"holds {store.dim}-d ones; embed both with the same backbone"
        )
    rows = np.arange(queries.shape[0]) if args.rows is None else parse_rows(args.rows, len(queries))
    table = store.nearest(queries[rows], k=args.k).table()
    table["query"] = rows[table["query"].to_numpy()]
    if out is not None:
        write_text_atomic(out, lambda f: csv_safe(table).to_csv(f, index=False))
    print(render(table, source.metadata))
    _print_written(csv=out)


def render(table: pd.DataFrame, query_metadata: pd.DataFrame | None = None) -> str:
    """One block per query row: its own metadata (when known), then its compact neighbours."""
    from fmood.workflows.neighbors import WIDTH, compact_table, query_line

    blocks = []
    for row, group in table.groupby("query", sort=False):
        title = f"query row {row}:"
        if query_metadata is not None:
            # "query" holds row numbers; pandas types a group key as any scalar.
            title += "\n  " + query_line(query_metadata.iloc[cast(int, row)], WIDTH - 2)
        blocks.append(f"{title}\n{compact_table(group.drop(columns='query'))}")
    return "\n\n".join(blocks)


def _run_image(
    args: argparse.Namespace, store: FeatureStore, out: Path | None, html: Path | None
) -> None:
    """Embed the image with the store's backbone, judge it, list its neighbours."""
    from fmood.sanitize import csv_safe
    from fmood.workflows import explain_image

    explanation = explain_image(
        store,
        args.image,
        k=args.k,
        detector=args.detector,
        weights=args.weights,
        device=args.device,
    )
    if out is not None:
        write_text_atomic(out, lambda f: csv_safe(explanation.neighbors).to_csv(f, index=False))
    if html is not None:
        explanation.write_html(html)
    print(explanation)
    _print_written(csv=out, html=html)


def _print_written(**written: Path | None) -> None:
    from fmood.sanitize import printable

    for what, path in written.items():
        if path is not None:
            print(f"wrote {what}: {printable(path)}")
