"""Image folders of real content: MNI152 T1 slices (reference) and chest radiograph crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from realimages import brain_slices, chest_crops


def write_pngs(folder: Path, images, prefix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, pixels in enumerate(images):
        Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(
            folder / f"{prefix}_{i:02d}.png"
        )
    return folder


@pytest.fixture(scope="session")
def image_folders(tmp_path_factory) -> dict[str, Path]:
    """reference: 40 brain slices; target: 8 other brain slices and 8 chest crops."""
    root = tmp_path_factory.mktemp("images")
    brain = brain_slices(48)
    held_out = set(range(4, 48, 6))
    write_pngs(root / "reference", [s for i, s in enumerate(brain) if i not in held_out], "brain")
    write_pngs(root / "target" / "brain", [brain[i] for i in sorted(held_out)], "brain")
    write_pngs(root / "target" / "chest", chest_crops(8), "chest")
    return {"reference": root / "reference", "target": root / "target"}
