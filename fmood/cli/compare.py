"""``fmood compare``: which backbone for a target hospital? One table ranks them."""

from __future__ import annotations

import argparse

from fmood.cli.embed import add_quiet, add_read_options, read_options_from
from fmood.cli.outputs import check_kept_out, check_writable

HELP = "rank backbones on how they see a target dataset against a reference"
DESCRIPTION = """\
Embed a reference and a target dataset with each backbone and measure, the
same way for every backbone, how differently it sees the target.

reads:  --reference and --target, each a folder or CSV manifest of images;
        each backbone embeds them into --store-root (default: embeddings/),
        resuming: a rerun embeds only what is missing. A 'patient' column, when
        present, keeps each patient whole in every split and resample.
writes: OUT/comparison.csv   one row per backbone, ranked: separability (AUROC
                             of an OOD detector fitted on the reference, target
                             vs held-out reference images), domain-classifier
                             AUROC, MMD over its noise floor, flagged share,
                             with --label-column a linear probe's accuracy on
                             reference and target and how well the OOD degree
                             finds its errors (AURC, AUGRC), images/s
        OUT/comparison.md    the table in Markdown, with what it means
        OUT/comparison.html  one self-contained page (no scripts, no network)
        OUT/summary.json     every number, the seed, each backbone's fingerprint
        OUT is replaced whole at the end; it must be new, empty or an earlier
        comparison holding nothing else, and may not hold or lie inside an input
        or --store-root.

Backbones: names from 'fmood embed' (efficientnet-lite0, litemedsam,
biomedclip, dinov2-base, timm:MODEL...), and random:NAME for NAME with random
weights (drawn with --seed): a control for what the pretrained weights add.
A higher separability means the backbone sees the target as more different
from the reference; it does not say which backbone makes the better
diagnostic model: with labels, the accuracy drop and error AURC speak to that.
The same --seed gives the same table (throughput aside)."""
EXAMPLE = """\
examples:
  fmood compare --backbones efficientnet-lite0,random:efficientnet-lite0,litemedsam \\
      --reference data/reference.csv --target data/target.csv --out compare_b
  fmood compare --backbones biomedclip,dinov2-base --reference site_a/ --target site_b/ \\
      --label-column diagnosis --out compare_b --device cuda"""


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``compare`` subcommand to ``commands``."""
    p = commands.add_parser(
        "compare",
        parents=parents,
        help=HELP,
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--backbones",
        required=True,
        metavar="NAME[,NAME...]",
        help="backbones to compare, comma-separated; random:NAME for random weights",
    )
    p.add_argument("--reference", required=True, metavar="DATA")
    p.add_argument("--target", required=True, metavar="DATA")
    p.add_argument("--out", required=True, metavar="OUT", help="comparison directory")
    p.add_argument(
        "--label-column",
        metavar="COLUMN",
        help="manifest column with each image's class: adds a linear probe",
    )
    p.add_argument(
        "--store-root",
        default="embeddings",
        metavar="DIR",
        help="where embedded images are stored (default: embeddings/)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--seed", type=int, default=0, help="seed of everything random (default: 0)")
    p.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="false-discovery rate of the flags (default: 0.05)",
    )
    p.add_argument(
        "--rank-by",
        default="separability",
        metavar="COLUMN",
        help="column the ranking sorts by: separability (default), "
        "classifier_auroc, mmd_ratio, flagged_share; with --label-column "
        "also target_accuracy, accuracy_drop, error_aurc",
    )
    p.add_argument(
        "--groups-column",
        default="patient",
        metavar="COLUMN",
        help="patient/volume column kept whole (default: patient, when present)",
    )
    p.add_argument("--batch-size", type=int, default=32, metavar="N")
    p.add_argument(
        "--throughput-sample",
        type=int,
        default=16,
        metavar="N",
        help="stored images re-embedded to time a backbone that had nothing to "
        "embed (default: 16; 0 skips)",
    )
    add_quiet(p)
    add_read_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Embed what is needed with each backbone, write the comparison, print the ranking."""
    from fmood.workflows import compare

    check_writable(args.out, "--out", directory=True, inputs=(args.reference, args.target))
    check_kept_out(args.store_root, "--store-root", args.out, "--out")
    result = compare(
        args.backbones,
        args.reference,
        args.target,
        args.out,
        label_column=args.label_column,
        store_root=args.store_root,
        device=args.device,
        seed=args.seed,
        alpha=args.alpha,
        rank_by=args.rank_by,
        groups_column=args.groups_column,
        batch_size=args.batch_size,
        read_options=read_options_from(args),
        throughput_sample=args.throughput_sample,
        progress=not args.quiet,
    )
    print(result)
