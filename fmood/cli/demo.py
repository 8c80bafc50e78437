"""``fmood demo``: run the end-to-end demonstration."""

from __future__ import annotations

import argparse
from typing import Any

from fmood._extras import missing_extra
from fmood.cli.embed import add_quiet
from fmood.cli.outputs import check_writable

HELP = "run the end-to-end demo on real medical images shipped with packages"
DESCRIPTION = """\
Run fmood's end-to-end demonstration (fmood_bench.demo.run_demo) on real images
that ship inside pip packages: a reference of brain MRI T1 slices (12 subjects)
and a target mixing 4 other subjects, six acquisition artifacts at five
severities, other MR contrasts, other anatomy and other modalities (CT, X-ray,
ultrasound, fundus, histology, photographs). Both are embedded with a
real-weight backbone, the OOD report is written, and the evaluation checks it
against what is known of each image. About 2-3 minutes on 2 CPU cores; a rerun
reuses the images and embeddings. Needs the demo extra: pip install 'fmood[demo]'.

reads:  nothing
writes: --out, a directory: data/ (images + manifests), embeddings/ (feature
        stores), report/ (report.html, scores.csv, summary.json),
        evaluation.json, severity.png"""
EXAMPLE = """\
example:
  fmood demo --out fmood-demo-out"""


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand to ``commands``."""
    p = commands.add_parser(
        "demo",
        parents=parents,
        help=HELP,
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out",
        default="fmood-demo-out",
        metavar="DIR",
        help="output directory (default: fmood-demo-out)",
    )
    p.add_argument(
        "--backbone",
        default="efficientnet-lite0",
        metavar="NAME",
        help="backbone (default: efficientnet-lite0; litemedsam is the medical one, "
        "about 2 s per image on a CPU)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    add_quiet(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the demo and print its outputs and headline lines."""
    out = check_writable(args.out, "--out", directory=True)
    # The demo lives outside the library (fmood_bench, shipped beside it); its packages come
    # with the demo extra, and the first one missing is imported somewhere inside the run.
    try:
        from fmood_bench.demo import run_demo

        summary = run_demo(out, backbone=args.backbone, device=args.device, progress=not args.quiet)
    except ModuleNotFoundError as exc:
        raise missing_extra(exc, "fmood demo", "demo") from exc
    listed = ", ".join(p.name + ("/" if p.is_dir() else "") for p in sorted(out.iterdir()))
    print(f"demo outputs in {out}: {listed}")
    print(headline(summary))


def headline(summary: dict[str, Any]) -> str:
    """Scalars as ``key: value``, flat dicts on one line, dicts of records as a table.

    Anything nested deeper is left to the summary file.
    """
    import pandas as pd

    lines = []
    for key, value in summary.items():
        if _is_scalar(value):
            lines.append(f"{key}: {_format(value)}")
        elif isinstance(value, dict) and all(map(_is_scalar, value.values())):
            lines.append(f"{key}: " + ", ".join(f"{k}={_format(v)}" for k, v in value.items()))
        elif isinstance(value, dict) and all(
            isinstance(v, dict) and all(map(_is_scalar, v.values())) for v in value.values()
        ):
            cells = {row: {k: _format(v) for k, v in rec.items()} for row, rec in value.items()}
            table = pd.DataFrame.from_dict(cells, orient="index")
            lines.append(f"{key}:\n{table.to_string()}")
    return "\n".join(lines)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _format(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)
