"""``fmood store verify``: check a feature store's files against its manifest."""

from __future__ import annotations

import argparse

from fmood.errors import StoreCorruptError

HELP = "check a feature store (fmood store verify STORE)"
DESCRIPTION = """\
verify: check every file of a feature store against what its manifest recorded
when each add committed: the size of the vectors file and of each metadata part,
their row counts, and the SHA-256 of every vector range, metadata part and the
index. Reads the whole store once; run it while no embedding writes to it.

reads:  STORE, a feature store directory
prints: one line per problem, each naming the file; otherwise "ok" with what
        could not be checked (stores written by an older fmood have no checksums)
exit:   0 when the store is sound, 2 on a problem (restore the store from a backup)"""
EXAMPLE = """\
examples:
  fmood store verify stores/site_a"""


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``store`` subcommand (with its ``verify`` action) to ``commands``."""
    p = commands.add_parser(
        "store",
        parents=parents,
        help=HELP,
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        parents=parents,
        help="check sizes, row counts and SHA-256 of every file",
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("store", metavar="STORE", help="feature store directory")
    verify.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace) -> None:
    """Print one line per problem and exit 2, or print ``ok`` and what was not checked."""
    from fmood.sanitize import printable
    from fmood.store import FeatureStore

    try:
        store = FeatureStore.open(args.store)
        notes = store.verify()
    except StoreCorruptError as err:
        lines = str(err).splitlines()
        for line in lines:
            print(printable(line))
        raise StoreCorruptError(
            f"{printable(args.store)}: {len(lines)} problem(s) found (above); restore the "
            "store from a backup"
        ) from None
    print(
        f"{printable(store.path)}: ok, {len(store)} vectors of dim {store.dim}, every "
        "recorded size, row count and checksum matches"
    )
    for note in notes:
        print(f"note: {printable(note)}")
