"""How fast the ``fmood`` command starts: ``--help`` of the CLI and of every subcommand.

Each command runs ``--repeats`` times in a fresh process; the median seconds are printed
beside ``python -c pass`` measured in the same run (the floor any Python command pays), and
the ratio to it. ``--importtime`` adds the slowest imports of ``import fmood.cli.main``
(``python -X importtime``). Issue 12's target: ``fmood --help`` under 0.5 s.

    python benchmarks/bench_cli_startup.py --repeats 5 --importtime
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SUBCOMMANDS = (
    "embed",
    "fit",
    "score",
    "report",
    "compare",
    "distance",
    "neighbors",
    "demo",
    "store",
)


def median_seconds(argv: list[str], repeats: int) -> float:
    """Median wall time of ``argv`` run ``repeats`` times, each in a fresh process."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def slowest_imports(module: str, n: int) -> list[tuple[float, str]]:
    """The ``n`` imports of ``module`` with the largest cumulative time, in seconds."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        rows.append((int(cumulative) / 1e6, name))
    return sorted(rows, reverse=True)[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--importtime", action="store_true", help="list the slowest imports")
    args = parser.parse_args()
    floor = median_seconds([sys.executable, "-c", "pass"], args.repeats)
    cases = [("python -c pass", None)]
    script = shutil.which("fmood") or str(Path(sys.executable).with_name("fmood"))
    cases.append(("fmood --help (console script)", [script, "--help"]))
    cases.append(
        ("python -m fmood.cli.main --help", [sys.executable, "-m", "fmood.cli.main", "--help"])
    )
    cases += [(f"fmood {c} --help", [script, c, "--help"]) for c in SUBCOMMANDS]
    print(f"{'command':<40} {'median s':>9} {'x python':>9}   ({args.repeats} runs each)")
    for label, argv in cases:
        seconds = floor if argv is None else median_seconds(argv, args.repeats)
        print(f"{label:<40} {seconds:>9.3f} {seconds / floor:>9.1f}")
    if args.importtime:
        print("\nslowest imports of fmood.cli.main (cumulative s):")
        for seconds, name in slowest_imports("fmood.cli.main", 12):
            print(f"  {seconds:7.3f}  {name}")


if __name__ == "__main__":
    main()
