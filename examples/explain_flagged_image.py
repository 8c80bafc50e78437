"""Why was this image flagged? Its OOD degree and its nearest reference images.

    python examples/explain_flagged_image.py [OUT_DIR]

Embeds the reference (brain MRI T1 slices) into a feature store, then looks at three target
images: a clean slice of a new subject, the same kind of slice with strong ghosting, and a
CT slice. Each is embedded with the store's own backbone (rebuilt from the store's
fingerprint), judged against the store, and shown beside its nearest reference slices:
printed, and as a thumbnail panel OUT_DIR/explained/<image>.html.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sample_data import BACKBONE, LAYERS, build, run

from fmood import backbones
from fmood.workflows import explain_image, store_for


def main(out_dir: Path) -> None:
    reference_csv, target_csv = build(out_dir)
    store = store_for(
        reference_csv,
        backbones.load(BACKBONE, layers=LAYERS),
        store_root=out_dir / "embeddings",
        progress=False,
    )
    target = pd.read_csv(target_csv)
    ghosting = target[target["shift"] == "artifact-ghosting"]
    picks = [
        target[target["shift"] == "id"].iloc[0],
        ghosting[ghosting["severity"] == ghosting["severity"].max()].iloc[0],
        target[target["shift"] == "ct"].iloc[0],
    ]
    (out_dir / "explained").mkdir(exist_ok=True)
    for row in picks:
        image = target_csv.parent / row["path"]
        explanation = explain_image(store, image, k=4)
        panel = explanation.write_html(out_dir / "explained" / f"{image.stem}.html")
        neighbours = explanation.neighbors[["rank", "distance", "patient", "level"]]
        path_line, verdict_line = str(explanation).splitlines()[:2]
        print(f"[{row['shift']}] {path_line} {verdict_line.strip()}")
        print(neighbours.round(3).to_string(index=False))
        print(f"panel: {panel}\n")


if __name__ == "__main__":
    run(main)
