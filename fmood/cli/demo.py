"""``fmood demo``: run the end-to-end demonstration."""
from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from fmood import demo
from fmood.cli.outputs import check_writable

HELP = "run the end-to-end demo on synthetic multi-site data"
DESCRIPTION = """\
Run fmood's end-to-end demonstration (fmood.demo.run_demo): build a feature
store of a multi-site reference, fit a detector, score a shifted target and
measure dataset distances. Prints where the outputs are and the headline
numbers; the full summary is in summary.json.

reads:  nothing
writes: --out, a directory (an earlier demo there is replaced)"""
EXAMPLE = """\
example:
  fmood demo --out fmood-demo-out"""


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand to ``commands``."""
    p = commands.add_parser(
        "demo", parents=parents, help=HELP, description=DESCRIPTION, epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="fmood-demo-out", metavar="DIR",
                   help="output directory (default: fmood-demo-out)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the demo and print its outputs and headline lines."""
    out = check_writable(args.out, "--out", directory=True)
    summary = demo.run_demo(out, progress=True)
    listed = ", ".join(p.name + ("/" if p.is_dir() else "") for p in sorted(out.iterdir()))
    print(f"demo outputs in {out}: {listed}")
    print(headline(summary))


def headline(summary: dict[str, Any]) -> str:
    """Scalars as ``key: value``, flat dicts on one line, dicts of records as a table.

    Anything nested deeper is left to the summary file.
    """
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
