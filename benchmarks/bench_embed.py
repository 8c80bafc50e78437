"""Throughput and memory of ``fmood embed`` against the bare model forward, per backbone.

    python benchmarks/bench_embed.py            # full sizes (about 15 minutes on 2 cores)
    python benchmarks/bench_embed.py --quick    # small sizes, a smoke test (about 1 minute)

For each backbone, in the same run and interleaved (best of ``--repeats``):

* bare: images per second of ``backbone.embed_batch`` on tensors already preprocessed and
  in memory (the model alone);
* pipeline: images per second of :func:`fmood.embed.embed_dataset` from PNG files on disk
  into a fresh feature store (listing, hashing, decoding and preprocessing in DataLoader
  workers, the forward, committing to the store);
* efficiency = pipeline / bare, target >= 0.85.

Memory: peak resident memory of a whole ``embed_dataset`` run in a fresh process for
1,000 and 5,000 images (main process, and the largest worker), target: flat within 10%.

The images are real: axial slices of the MNI152 T1 template (nilearn), each written as a
256 x 256 8-bit PNG with its own small intensity jitter, so no two files are identical.
Each target ends in one line ``TARGET <name>: <measured> vs <target> -> PASS|MISS``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {
    # backbone -> images timed per repeat; LiteMedSAM's TinyViT keeps 64 x 64 tokens in
    # every stage (about 1.5-2 s per image on 2 cores), so it gets fewer.
    "full": {
        "images": {
            "efficientnet-lite0": 512,
            "litemedsam": 32,
            "dinov2-small": 256,
            "timm:resnet18": 256,
        },
        "memory_sizes": (1_000, 5_000),
    },
    "quick": {
        "images": {"efficientnet-lite0": 32},
        "memory_sizes": (40, 80),
    },
}
#: Backbones without real weights offline are timed with random weights (same architecture,
#: same cost).
RANDOM_WEIGHTS = {"dinov2-small", "timm:resnet18"}
BATCH_SIZE = 32
EFFICIENCY_MIN = 0.85
MEMORY_GROWTH_MAX = 0.10
MEMORY_BACKBONE = "efficientnet-lite0"


def write_images(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` 256 x 256 PNGs of MNI152 T1 slices, each with its own intensity jitter."""
    import nibabel as nib
    from nilearn.datasets import load_mni152_template
    from PIL import Image

    from fmood.io import read_nifti

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t1.nii.gz"
        nib.save(load_mni152_template(resolution=1), path)
        slices = [im.pixels for im in read_nifti(path, axis=2)]
    rng = np.random.default_rng(seed)
    for i in range(n):
        base = slices[i % len(slices)]
        canvas = np.zeros((256, 256), np.float32)
        h, w = min(base.shape[0], 256), min(base.shape[1], 256)
        canvas[:h, :w] = base[:h, :w]
        gain = rng.uniform(0.9, 1.1)
        noisy = np.clip(canvas * gain + rng.normal(0, 0.01, canvas.shape), 0, 1)
        Image.fromarray((noisy * 255).astype(np.uint8)).save(folder / f"slice_{i:05d}.png")


def load_backbone(name: str):
    from fmood import backbones

    options = {"pretrained": False} if name in RANDOM_WEIGHTS else {}
    return backbones.load(name, device="cpu", **options)


def time_bare(backbone, batches) -> float:
    start = time.perf_counter()
    for batch in batches:
        backbone.embed_batch(batch)
    return time.perf_counter() - start


def time_pipeline(backbone, folder: Path, store: Path) -> float:
    from fmood.embed import embed_dataset

    start = time.perf_counter()
    summary = embed_dataset(backbone, folder, store, batch_size=BATCH_SIZE, progress=False)
    elapsed = time.perf_counter() - start
    if summary.n_failed_files:
        raise RuntimeError(f"{summary.n_failed_files} files failed: {summary}")
    return elapsed


def throughput(name: str, n: int, repeats: int, work: Path) -> dict:
    import torch

    backbone = load_backbone(name)
    folder = work / f"images_{n}"
    if not folder.exists():
        write_images(folder, n)
    from fmood.io import read_image

    files = sorted(folder.iterdir())
    tensors = torch.stack([backbone.preprocess(read_image(f)[0]) for f in files])
    batches = list(torch.split(tensors, BATCH_SIZE))
    backbone.embed_batch(batches[0][:2])  # warm-up: first-call allocations
    bare, pipeline = [], []
    for r in range(repeats):
        bare.append(time_bare(backbone, batches))
        pipeline.append(
            time_pipeline(backbone, folder, work / f"store_{name}_{r}".replace(":", "_"))
        )
    best_bare, best_pipe = min(bare), min(pipeline)
    return {
        "backbone": name,
        "weights": "random" if name in RANDOM_WEIGHTS else "real",
        "images": n,
        "bare_images_per_s": n / best_bare,
        "pipeline_images_per_s": n / best_pipe,
        "efficiency": best_bare / best_pipe,
    }


def memory_child(n: int, work: str) -> None:
    """Run one embed in this (fresh) process and print its peak memory as JSON."""
    from fmood.embed import embed_dataset

    folder = Path(work) / f"images_{n}"  # written by the parent: only embedding is measured
    backbone = load_backbone(MEMORY_BACKBONE)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = embed_dataset(
        backbone, folder, Path(work) / f"mem_store_{n}", batch_size=BATCH_SIZE, progress=False
    )
    print(
        json.dumps(
            {
                "images": summary.n_images,
                "peak_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "before_embed_mb": before / 1024,
                "peak_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        )
    )


def memory(sizes: tuple[int, int], work: Path) -> list[dict]:
    out = []
    for n in sizes:
        folder = work / f"images_{n}"
        if not folder.exists():
            write_images(folder, n, seed=1)
        done = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(n), "--work", str(work)],
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def target(name: str, measured: str, goal: str, ok: bool) -> None:
    print(f"TARGET {name}: {measured} vs {goal} -> {'PASS' if ok else 'MISS'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--memory-only", action="store_true", help="skip the throughput part")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.work)
        return
    import torch

    sizes = SIZES["quick" if args.quick else "full"]
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), batch {BATCH_SIZE}"
    )
    results = {"throughput": [], "memory": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(
            f"{'backbone':<20} {'weights':<7} {'images':>6} {'bare img/s':>11} "
            f"{'pipeline img/s':>15} {'efficiency':>10}"
        )
        for name, n in ({} if args.memory_only else sizes["images"]).items():
            row = throughput(name, n, args.repeats, work)
            results["throughput"].append(row)
            print(
                f"{name:<20} {row['weights']:<7} {n:>6} {row['bare_images_per_s']:>11.2f} "
                f"{row['pipeline_images_per_s']:>15.2f} {row['efficiency']:>10.2f}",
                flush=True,
            )
        for row in results["throughput"]:
            target(
                f"pipeline_efficiency[{row['backbone']}]",
                f"{row['efficiency']:.2f}",
                f">= {EFFICIENCY_MIN}",
                row["efficiency"] >= EFFICIENCY_MIN,
            )
        results["memory"] = memory(sizes["memory_sizes"], work)
    small, large = results["memory"]
    for row in results["memory"]:
        print(
            f"memory {MEMORY_BACKBONE}: {row['images']:>5} images, peak main "
            f"{row['peak_main_mb']:.0f} MB (before embedding {row['before_embed_mb']:.0f} MB), "
            f"peak worker {row['peak_worker_mb']:.0f} MB"
        )
    growth = large["peak_main_mb"] / small["peak_main_mb"] - 1
    worker_growth = large["peak_worker_mb"] / small["peak_worker_mb"] - 1
    target(
        "memory_growth_main",
        f"{growth:+.1%} from {small['images']} to {large['images']} images",
        f"<= {MEMORY_GROWTH_MAX:.0%}",
        growth <= MEMORY_GROWTH_MAX,
    )
    target(
        "memory_growth_worker",
        f"{worker_growth:+.1%}",
        f"<= {MEMORY_GROWTH_MAX:.0%}",
        worker_growth <= MEMORY_GROWTH_MAX,
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
