"""``fmood score``: assess target embeddings with a saved detector, write a CSV."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from fmood.calibration.detector import OODDetector
from fmood.cli.inputs import EmbeddingSource, load_source
from fmood.cli.outputs import check_writable, write_text_atomic
from fmood.errors import InvalidInputError

HELP = "score target embeddings with a saved detector"
DESCRIPTION = """\
Score target embeddings with a detector saved by 'fmood fit'.

reads:  DETECTOR_DIR, and TARGET (a .npy file of shape (n, d) or a feature store)
writes: --out, a CSV with one row per target embedding: row, the store's
        metadata (path, ...) when TARGET is a store, each scorer's raw score
        and p-value, p_combined, degree (1 - p_combined), surprise
        (-log10 p_combined), flagged (Benjamini-Hochberg at false-discovery
        rate --alpha across the target), and domain columns if the detector
        has domains.
prints: the share flagged, the median and max degree, the 5 most OOD rows."""
EXAMPLE = """\
example:
  fmood score --detector detector/ target.npy --out scores.csv --alpha 0.05"""
TOP = 5


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``score`` subcommand to ``commands``."""
    p = commands.add_parser(
        "score", parents=parents, help=HELP, description=DESCRIPTION, epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="TARGET", help=".npy file or feature store directory")
    p.add_argument("--detector", required=True, metavar="DETECTOR_DIR",
                   help="directory written by 'fmood fit'")
    p.add_argument("--out", required=True, metavar="SCORES.csv", help="CSV file to write")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="false-discovery rate of the flags (default: 0.05)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Assess the target, write the table, print the summary."""
    out = check_writable(args.out, "--out")
    detector = OODDetector.load(args.detector)
    target = load_source(args.target)
    if target.dim != detector.n_features_in_:
        raise InvalidInputError(
            f"{target.path} holds {target.dim}-d embeddings, but the detector in {args.detector} "
            f"was fitted on {detector.n_features_in_}-d ones; embed both with the same backbone"
        )
    table = scores_table(target, detector.assess(target.embeddings, alpha=args.alpha))
    write_text_atomic(out, lambda f: table.to_csv(f, index=False))
    print(summary(table, target, out, args.alpha))


def scores_table(target: EmbeddingSource, assessed: pd.DataFrame) -> pd.DataFrame:
    """``row``, the target's metadata (renamed ``meta_<name>`` on a clash), then ``assessed``."""
    parts = [pd.DataFrame({"row": range(len(assessed))})]
    if target.metadata is not None:
        taken = {"row", *assessed.columns}
        parts.append(target.metadata.rename(
            columns={c: f"meta_{c}" for c in target.metadata.columns if c in taken}
        ))
    return pd.concat([*parts, assessed], axis=1)


def summary(table: pd.DataFrame, target: EmbeddingSource, out: Path, alpha: float) -> str:
    """Share flagged, degree median/max, and the most OOD rows."""
    n = len(table)
    flagged = int(table["flagged"].sum())
    shown = ["row"] + (["path"] if "path" in table.columns else []) + [
        "degree", "surprise", "flagged"
    ]
    top = table.nlargest(TOP, "surprise")[shown]
    return "\n".join([
        f"scored {n} embeddings from {target.path}; table written to {out}",
        f"flagged at FDR {alpha:g}: {flagged} of {n} ({flagged / n:.1%})",
        f"degree: median {table['degree'].median():.4f}, max {table['degree'].max():.4f}",
        f"most OOD rows:\n{top.to_string(index=False)}",
    ])
