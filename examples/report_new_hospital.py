"""Is a new hospital's data safe for my model? An OOD report through the Python API.

    python examples/report_new_hospital.py [OUT_DIR]

Embeds a reference (brain MRI T1 slices) and a new "hospital" (new subjects, MR artifacts,
other contrasts and modalities) with EfficientNet-Lite0, fits the calibrated detector on the
reference and writes OUT_DIR/report/report.html, scores.csv and summary.json. Everything
comes from pip packages; nothing is downloaded. About a minute on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sample_data import BACKBONE, LAYERS, build, run

from fmood import backbones
from fmood.workflows import report


def main(out_dir: Path) -> None:
    reference_csv, target_csv = build(out_dir)
    model = backbones.load(BACKBONE, layers=LAYERS)
    summary = report(
        reference_csv,
        target_csv,
        out_dir / "report",
        backbone=model,
        store_root=out_dir / "embeddings",
        groups_column="patient",
        progress=False,
    )
    print(summary)

    scores = pd.read_csv(summary.scores_path)
    print("\nshare flagged and median OOD degree, by kind of image:")
    by_kind = scores.groupby(["shift_group", "shift"])
    print(
        by_kind.agg(
            images=("flagged", "size"),
            flagged=("flagged", "mean"),
            median_degree=("degree", "median"),
        )
        .round(3)
        .to_string()
    )


if __name__ == "__main__":
    run(main)
