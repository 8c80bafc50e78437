"""``fmood report``: is a new dataset safe for the model? One HTML report answers."""

from __future__ import annotations

import argparse

from fmood.cli.embed import add_quiet, add_read_options, read_options_from
from fmood.cli.outputs import check_kept_out, check_writable
from fmood.errors import InvalidInputError

HELP = "write an OOD report of a target dataset against a reference"
DESCRIPTION = """\
Judge a target dataset (a new hospital, scanner or protocol) against the
reference the model was built on, and write a report a team can read.

reads:  --reference and --target, each a feature store or a folder / CSV
        manifest of images; images are embedded with --backbone into
        --store-root (default: embeddings/), resuming: a rerun embeds only new
        files. Both sides must come from the same backbone.
writes: OUT/report.html   one self-contained page (no scripts, no network):
                          the verdict and what to do next, degree
                          distributions, the borderline images (just flagged
                          / just not flagged), the most out-of-distribution
                          distinct cases beside their nearest reference
                          images, a breakdown per metadata group (site,
                          scanner, Modality...), a 2-D map, scorer agreement
        OUT/scores.csv    one row per target image: path, metadata, degree,
                          p-value, flagged, raw scores, nearest reference ids
        OUT/summary.json  the numbers behind the verdict
        OUT is replaced whole at the end (an earlier report stays intact if
        the run fails); it must be new, empty or an earlier report holding
        nothing else, and may not hold or lie inside an input or --store-root.

The detector is fitted on the reference (patients kept whole in its
calibration split when a 'patient' column exists), unless --detector names one
saved by 'fmood fit'."""
EXAMPLE = """\
examples:
  fmood report --reference embeddings/site_a --target scans/site_b/ --out report_b \\
      --backbone litemedsam
  fmood report --reference ref.csv --target new.csv --out report --backbone efficientnet-lite0 \\
      --domains-column site"""


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``report`` subcommand to ``commands``."""
    p = commands.add_parser(
        "report",
        parents=parents,
        help=HELP,
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--reference", required=True, metavar="STORE_OR_DATA")
    p.add_argument("--target", required=True, metavar="STORE_OR_DATA")
    p.add_argument("--out", required=True, metavar="OUT", help="report directory")
    p.add_argument("--backbone", metavar="NAME", help="backbone for sides given as images")
    p.add_argument("--weights", metavar="PATH", help="local weights (or hub id) of the backbone")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument(
        "--store-root",
        default="embeddings",
        metavar="DIR",
        help="where embedded images are stored (default: embeddings/)",
    )
    p.add_argument("--batch-size", type=int, default=32, metavar="N")
    p.add_argument("--detector", metavar="DIR", help="a detector saved by 'fmood fit'")
    p.add_argument(
        "--groups-column",
        default="patient",
        metavar="COLUMN",
        help="patient/volume column kept whole in calibration (default: patient, when present)",
    )
    p.add_argument("--domains-column", metavar="COLUMN", help="calibrate per site or scanner")
    p.add_argument("--alpha", type=float, default=0.05, help="false-discovery rate (default 0.05)")
    p.add_argument("-k", type=int, default=5, help="reference neighbours per shown image")
    p.add_argument(
        "--top", type=int, default=12, help="most-OOD distinct cases shown (default: 12)"
    )
    p.add_argument(
        "--borderline",
        type=int,
        default=8,
        help="images shown around the flag threshold, half each side (default: 8)",
    )
    p.add_argument("--distance", default="mmd", help="dataset distance (default: mmd)")
    p.add_argument("--seed", type=int, default=0)
    add_quiet(p)
    add_read_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Embed what is needed, build the report, print where it is."""
    from fmood.workflows import report

    check_writable(
        args.out, "--out", directory=True, inputs=(args.reference, args.target, args.detector)
    )
    check_kept_out(args.store_root, "--store-root", args.out, "--out")
    if not 0.0 < args.alpha < 1.0:
        raise InvalidInputError(f"--alpha must be in (0, 1), got {args.alpha}")
    summary = report(
        args.reference,
        args.target,
        args.out,
        backbone=args.backbone,
        weights=args.weights,
        device=args.device,
        store_root=args.store_root,
        batch_size=args.batch_size,
        read_options=read_options_from(args),
        progress=not args.quiet,
        detector=args.detector,
        groups_column=args.groups_column,
        domains_column=args.domains_column,
        alpha=args.alpha,
        k_neighbors=args.k,
        n_top=args.top,
        n_borderline=args.borderline,
        distance=args.distance,
        seed=args.seed,
    )
    print(summary)
