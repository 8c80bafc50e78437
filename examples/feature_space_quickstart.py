"""The feature-space engine through the Python API, on synthetic multi-site embeddings.

    python examples/feature_space_quickstart.py [OUT_DIR]

Stores a reference, fits a calibrated detector, judges a new hospital's images, measures how
far the whole dataset moved, and explains one flagged image by its nearest reference images.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from fmood import FeatureStore, Fingerprint, OODDetector, dataset_distance
from fmood.datasets import make_hospital_shift


def main(out_dir: Path) -> None:
    data = make_hospital_shift(random_state=1)

    store = FeatureStore.create(
        out_dir / "reference",
        dim=data.reference.shape[1],
        fingerprint=Fingerprint("synthetic", None, "example"),
    )
    store.add(data.reference, data.reference_metadata)
    meta = store.metadata

    detector = OODDetector().fit(store.embeddings, groups=meta["patient"], domains=meta["site"])
    table = detector.assess(data.target, alpha=0.05).join(data.target_metadata)
    print("share flagged at 5% FDR, by kind of image:")
    print(table.groupby("shift")["flagged"].mean().round(3).to_string())

    clean = (data.target_metadata["shift"] == "none").to_numpy()
    other = (data.target_metadata["shift"] == "other-modality").to_numpy()
    for name, rows in (("new patients", clean), ("other modality", other)):
        result = dataset_distance(
            store.embeddings,
            data.target[rows],
            "mmd",
            n_bootstrap=50,
            groups_a=meta["patient"],
            groups_b=table["patient"][rows],
        )
        print(f"{name}: {result}")

    worst = int(table["surprise"].idxmax())
    print(f"most atypical image: {table['path'][worst]} (surprise {table['surprise'][worst]:.1f})")
    print(
        store.nearest(data.target[[worst]], k=3)
        .table()[["rank", "distance", "path", "site"]]
        .to_string(index=False)
    )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
