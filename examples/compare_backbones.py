"""Which backbone should we use for hospital X? A backbone comparison through the Python API.

    python examples/compare_backbones.py [OUT_DIR]

Hospital X's scanner adds artifacts (ghosting, motion, noise, ...) to some brain MR slices.
Compares EfficientNet-Lite0 (real ImageNet weights, with and without two early blocks) against
the same architecture with random weights (a control: what do the weights add?), on how
clearly each one's OOD detector separates hospital X from held-out reference slices, and,
with the slice-level labels, how a linear probe trained on the reference degrades there and
whether the OOD degree finds its errors. Writes OUT_DIR/compare/comparison.{csv,md,html}.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sample_data import BACKBONE, LAYERS, build, run

from fmood import backbones
from fmood.utils.atomic import write_bytes_atomic
from fmood.workflows import compare


def main(out_dir: Path) -> None:
    reference_csv, target_csv = build(out_dir)
    target = pd.read_csv(target_csv)
    hospital_x = target[target["shift"].isin(["id"]) | target["shift"].str.startswith("artifact-")]
    hospital_x_csv = target_csv.with_name("hospital-x.csv")
    write_bytes_atomic(hospital_x_csv, hospital_x.to_csv(index=False).encode())

    candidates = [
        backbones.load(BACKBONE),
        backbones.load(BACKBONE, layers=LAYERS),
        f"random:{BACKBONE}",
    ]
    result = compare(
        candidates,
        reference_csv,
        hospital_x_csv,
        out_dir / "compare",
        label_column="level",
        store_root=out_dir / "embeddings",
        progress=False,
    )
    print(result)
    columns = [
        "backbone",
        "separability",
        "classifier_auroc",
        "mmd_ratio",
        "flagged_share",
        "reference_accuracy",
        "target_accuracy",
        "error_auroc",
    ]
    print(result.table[columns].round(3).to_string(index=False))


if __name__ == "__main__":
    run(main)
