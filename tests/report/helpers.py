"""Small feature stores with real PNG files behind them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from fmood.store import FeatureStore, Fingerprint

FINGERPRINT = Fingerprint("synthetic-backbone", "ab" * 32, "none")
#: A file name that would run a script if the report did not escape it (the "/" makes the
#: "<script>alert(1)<" part a directory).
SCRIPT_NAME = "<script>alert(1)</script>.png"
#: A metadata value with quotes, an ampersand and angle brackets.
ODD_VENDOR = 'GE "Signa" & <Co>'
#: A metadata column name with markup in it.
ODD_COLUMN = 'notes <i>&"</i>'
N_REFERENCE, N_TARGET, DIM = 240, 100, 16
QUICK = {"progress": False, "n_bootstrap": 40}


def write_png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 20), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def make_store(
    root: Path,
    name: str,
    X: np.ndarray,
    *,
    sites: tuple[str, ...],
    fingerprint: Fingerprint = FINGERPRINT,
    paths: list[Path] | None = None,
) -> FeatureStore:
    """A store of ``X`` whose rows have PNG files (or the given paths), patients and groups."""
    rows = []
    for i in range(len(X)):
        path = paths[i] if paths is not None else root / name / f"img{i:04d}.png"
        if paths is None:
            write_png(path, seed=i)
        rows.append(
            {
                "path": str(path),
                "patient": f"{name}-{i // 4}",
                "site": sites[i % len(sites)],
                "Manufacturer": ODD_VENDOR if i % 3 else "Siemens",
                ODD_COLUMN: "x" if i % 2 else "y",
            }
        )
    store = FeatureStore.create(root / f"{name}_store", X.shape[1], fingerprint)
    store.add(X, rows)
    return store
