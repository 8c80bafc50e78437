"""Peak resident memory of ``fmood score`` against the number of target embeddings.

    python benchmarks/bench_score_memory.py                      # 100k and 400k x 768
    python benchmarks/bench_score_memory.py --sizes 100000,1000000
    python benchmarks/bench_score_memory.py --quick              # 20k and 80k, a smoke test

A detector (the default scorers) is fitted on 5,000 reference embeddings; each target is a
float32 ``.npy`` file of n x 768 Gaussian embeddings, written in chunks so this script stays
small. Each ``fmood score`` runs in a fresh process that prints its peak resident set
(``VmHWM`` of ``/proc/self/status``, Linux; not ``getrusage``, which Linux carries across
``exec`` from the forking parent). Run it from a checkout to measure that checkout's code. Target: peak memory flat within 10% from the smallest to the
largest size. The last line reads ``TARGET flat memory: <ratio> vs 1.10 -> PASS|MISS``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 768
N_REFERENCE = 5000
WRITE_ROWS = 50_000
TARGET_RATIO = 1.10


def write_target(path: Path, n: int, seed: int) -> None:
    """An n x DIM float32 ``.npy`` of Gaussian rows, written chunk by chunk."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
    for start in range(0, n, WRITE_ROWS):
        stop = min(start + WRITE_ROWS, n)
        out[start:stop] = rng.standard_normal((stop - start, DIM), dtype=np.float32)
        out.flush()
    del out


# Runs ``fmood ARGS...`` and prints the process's peak resident set in kB.
_CHILD = """
import sys
from fmood.cli.main import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
print("VmHWM", next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
sys.exit(code)
"""


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """Run ``fmood ARGS...`` in a fresh process; return its peak RSS in MB and wall seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"fmood {' '.join(args)} failed:\n{done.stderr}")
    peak_kb = int(done.stdout.split("VmHWM")[-1].split()[0])
    return peak_kb / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,400000", help="comma-separated target sizes")
    parser.add_argument("--quick", action="store_true", help="20k and 80k targets")
    parser.add_argument("--work", help="directory for the files (default: a temporary one)")
    args = parser.parse_args()
    sizes = [20_000, 80_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        work = Path(work)
        reference = work / "reference.npy"
        write_target(reference, N_REFERENCE, seed=0)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "fmood.cli.main",
                "fit",
                str(reference),
                "--out",
                str(work / "detector"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        peaks = []
        for n in sizes:
            target = work / f"target_{n}.npy"
            write_target(target, n, seed=n)
            peak, wall = peak_rss_mb(
                [
                    "score",
                    str(target),
                    "--detector",
                    str(work / "detector"),
                    "--out",
                    str(work / "scores.csv"),
                ]
            )
            size_mb = target.stat().st_size / 2**20
            print(
                f"n={n:>9,} x {DIM}: file {size_mb:8.0f} MB, peak RSS {peak:8.0f} MB, "
                f"{wall:6.1f} s",
                flush=True,
            )
            peaks.append(peak)
            target.unlink()
    for n, peak in zip(sizes[1:], peaks[1:], strict=True):
        print(f"peak RSS ratio n={n:,} / n={sizes[0]:,}: {peak / peaks[0]:.3f}")
    ratio = max(peaks) / peaks[0]
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(f"TARGET flat memory: {ratio:.3f} vs {TARGET_RATIO:.2f} -> {verdict}")


if __name__ == "__main__":
    main()
