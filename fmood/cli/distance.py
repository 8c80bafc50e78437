"""``fmood distance``: dataset-level distances between a reference and a target set."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from fmood.cli.choices import DISTANCE_METHODS
from fmood.cli.outputs import check_writable, write_text_atomic
from fmood.errors import InvalidInputError

if TYPE_CHECKING:
    from fmood.distances import DistanceResult

HELP = "distance between a reference set and a target set of embeddings"
DESCRIPTION = f"""\
Measure how far a target set of embeddings lies from a reference set, with a
bootstrap confidence interval, a null level (the same distance between two
random halves of the reference), their ratio (about 1 or less: the target
looks like another sample of the reference) and, for mmd, a permutation
p-value.

reads:  REFERENCE and TARGET, each a .npy file of shape (n, d) or a feature store
writes: --json (optional): {{"reference", "target", "distances": {{method: result}},
        "ratio_meanings": {{method: text}}}}
prints: one line per method, then what each method's ratio means

Ratios are not comparable across methods: each method has its own null level.
  mmd         unbiased MMD^2: its null level is near 0, so the ratio explodes
              on a real shift (tens to hundreds); read its p-value
  frechet     a large finite-sample bias makes its null level large, so the
              ratio stays near 1 (1.4x can be a clear shift)
  sliced_wasserstein, sinkhorn   biased like frechet: ratios stay small
  classifier  AUROC; its null level is chance (0.5), so the ratio is at most 2
The same data can give mmd 88x and frechet 1.4x: both say "shifted".

methods: {", ".join(DISTANCE_METHODS)}, or all"""
EXAMPLE = """\
example:
  fmood distance reference.npy target.npy --method mmd,frechet --json distance.json"""
#: Width the ratio explanations are wrapped to.
WIDTH = 100
COLUMNS = ("method", "value", "ci_low", "ci_high", "null_level", "ratio", "p_value")


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``distance`` subcommand to ``commands``."""
    p = commands.add_parser(
        "distance",
        parents=parents,
        help=HELP,
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("reference", metavar="REFERENCE", help=".npy file or feature store directory")
    p.add_argument("target", metavar="TARGET", help=".npy file or feature store directory")
    p.add_argument(
        "--method",
        default="mmd",
        metavar="M1,M2|all",
        help="comma-separated methods, or all (default: mmd)",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=200,
        metavar="N",
        help="bootstrap replicates for the 95%% interval; 0 skips it (default: 200)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--json", metavar="OUT.json", help="also write the full results as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Compute each method's distance, print one line each, optionally write JSON."""
    from fmood.cli.inputs import load_source
    from fmood.distances import dataset_distance
    from fmood.sanitize import printable

    out = (
        None
        if args.json is None
        else check_writable(args.json, "--json", inputs=(args.reference, args.target))
    )
    methods = parse_methods(args.method)
    reference, target = load_source(args.reference), load_source(args.target)
    if reference.dim != target.dim:
        raise InvalidInputError(
            f"{printable(reference.path)} holds {reference.dim}-d embeddings but "
            f"{printable(target.path)} holds "
            f"{target.dim}-d ones; embed both with the same backbone"
        )
    results = [
        dataset_distance(
            reference.embeddings,
            target.embeddings,
            method=method,
            n_bootstrap=args.bootstrap,
            random_state=args.seed,
            progress=sys.stderr.isatty(),
        )
        for method in methods
    ]
    if out is not None:
        document = {
            "reference": str(reference.path),
            "target": str(target.path),
            "distances": {r.method: r.to_dict() for r in results},
            "ratio_meanings": {r.method: r.ratio_meaning for r in results},
        }
        write_text_atomic(out, lambda f: json.dump(document, f, indent=2))
    print(render(results))


def parse_methods(text: str) -> list[str]:
    """``"mmd,frechet"`` or ``"all"`` -> method names, checked, without repeats."""
    from fmood.distances import available_distances, get_distance

    if text.strip() == "all":
        return available_distances()
    names = [name.strip() for name in text.split(",")]
    for name in names:
        get_distance(name)  # an unknown name lists the available ones
    return list(dict.fromkeys(names))


def render(results: list[DistanceResult]) -> str:
    """An aligned table, one line per method (``-`` where a method has no such number), then
    what each method's ratio means."""
    import pandas as pd

    from fmood.distances.result import RATIO_NOTE

    rows = [
        {c: "-" if getattr(r, c) is None else _number(getattr(r, c)) for c in COLUMNS}
        for r in results
    ]
    table = pd.DataFrame(rows, columns=list(COLUMNS)).to_string(index=False)
    notes = [textwrap.fill(RATIO_NOTE, WIDTH)]
    notes += [
        textwrap.fill(f"{r.method}: {r.ratio_meaning}", WIDTH, subsequent_indent="  ")
        for r in results
        if r.ratio_meaning
    ]
    return "\n".join([table, "", *notes])


def _number(value: Any) -> str:
    return value if isinstance(value, str) else f"{value:.4g}"
