"""``fmood neighbors``: the nearest stored images of query embeddings."""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from fmood.cli.inputs import load_source, parse_rows
from fmood.cli.outputs import check_writable, write_text_atomic
from fmood.errors import InvalidInputError
from fmood.store import FeatureStore

HELP = "list the nearest feature-store images of query embeddings"
DESCRIPTION = """\
For each query embedding, list the k nearest vectors of a feature store with
their rank, distance, id and metadata (path, site, ...): which reference images
a flagged image resembles most.

reads:  --store, a feature store directory; --query, a .npy file of shape
        (n, d) or a feature store (its own vectors as queries)
writes: --csv (optional), one row per (query, neighbour)
prints: one block per query row"""
EXAMPLE = """\
example:
  fmood neighbors --store reference_store/ --query target.npy --rows 0,5 -k 8"""


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``neighbors`` subcommand to ``commands``."""
    p = commands.add_parser(
        "neighbors", parents=parents, help=HELP, description=DESCRIPTION, epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--store", required=True, help="feature store directory to search")
    p.add_argument("--query", required=True, metavar="QUERY.npy", help="query embeddings")
    p.add_argument("--rows", metavar="I,J,...", help="query rows to search for (default: all)")
    p.add_argument("-k", type=int, default=8, help="neighbours per query (default: 8)")
    p.add_argument("--csv", metavar="OUT.csv", help="also write the neighbours to this CSV")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Search the store and print (and optionally write) the neighbours."""
    out = None if args.csv is None else check_writable(args.csv, "--csv")
    store = FeatureStore.open(args.store)
    queries = load_source(args.query).embeddings
    if queries.shape[1] != store.dim:
        raise InvalidInputError(
            f"{args.query} holds {queries.shape[1]}-d embeddings, but the store {args.store} "
            f"holds {store.dim}-d ones; embed both with the same backbone"
        )
    rows = (
        np.arange(queries.shape[0]) if args.rows is None else parse_rows(args.rows, len(queries))
    )
    table = store.nearest(queries[rows], k=args.k).table()
    table["query"] = rows[table["query"].to_numpy()]
    if out is not None:
        write_text_atomic(out, lambda f: table.to_csv(f, index=False))
    print(render(table))


def render(table: pd.DataFrame) -> str:
    """One block per query row: its neighbours without the ``query`` column."""
    blocks = [
        f"query row {row}:\n{group.drop(columns='query').to_string(index=False)}"
        for row, group in table.groupby("query", sort=False)
    ]
    return "\n\n".join(blocks)
