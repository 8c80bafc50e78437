"""Tiny backbones and small on-disk datasets for the extraction tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from PIL import Image as PILImage
from pydicom.data import get_testdata_file

from fmood.backbones import ModuleBackbone, Preprocessing

SIZE = 32
#: Frames per good file of :func:`make_folder`, by file name.
FRAMES = {
    "a.png": 1,
    "b_rgb.png": 1,
    "c.jpg": 1,
    "ct.dcm": 1,
    "mr.dcm": 1,
    "stack.tif": 3,
    "vol.nii.gz": 5,
}
BAD = ("empty.png", "truncated.png", "text.dcm", "broken.nii.gz")


def tiny_module(seed: int = 0) -> torch.nn.Module:
    """Conv -> ReLU -> global average pool: an 8-d encoder with fixed random weights."""
    generator = torch.Generator().manual_seed(seed)
    conv = torch.nn.Conv2d(3, 8, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator))
        conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator))
    return torch.nn.Sequential(
        conv, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )


def tiny_backbone(name: str = "tiny", seed: int = 0) -> ModuleBackbone:
    return ModuleBackbone(tiny_module(seed), Preprocessing(SIZE), name=name, device="cpu")


class CrashingBackbone(ModuleBackbone):
    """The tiny backbone (same fingerprint) that raises on its ``crash_at``-th batch."""

    def __init__(self, crash_at: int) -> None:
        super().__init__(tiny_module(), Preprocessing(SIZE), name="tiny", device="cpu")
        self.crash_at = crash_at
        self.calls = 0

    def embed_batch(self, batch: torch.Tensor) -> np.ndarray:
        self.calls += 1
        if self.calls == self.crash_at:
            raise RuntimeError("simulated crash (GPU lost)")
        return super().embed_batch(batch)


def _png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(pixels).save(path)
    return path


def make_folder(root: Path, *, bad: bool = True, seed: int = 0) -> Path:
    """PNG (grey, RGB), JPEG, two DICOMs, a 3-page TIFF, a 5-slice NIfTI; bad files too."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    _png(root / "a.png", rng.integers(0, 256, (40, 48), dtype=np.uint8))
    _png(root / "b_rgb.png", rng.integers(0, 256, (30, 30, 3), dtype=np.uint8))
    _png(root / "c.jpg", rng.integers(0, 256, (36, 36), dtype=np.uint8))
    shutil.copy(get_testdata_file("CT_small.dcm", download=False), root / "ct.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm", download=False), root / "mr.dcm")
    pages = [PILImage.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)) for _ in range(3)]
    pages[0].save(root / "stack.tif", save_all=True, append_images=pages[1:])
    volume = rng.random((20, 24, 5)).astype(np.float32) * 100
    nib.save(nib.Nifti1Image(volume, np.eye(4)), root / "vol.nii.gz")
    if bad:
        (root / "empty.png").write_bytes(b"")
        full = (root / "a.png").read_bytes()
        (root / "truncated.png").write_bytes(full[: len(full) // 2])
        (root / "text.dcm").write_text("this is not DICOM\n" * 20)
        (root / "broken.nii.gz").write_bytes(b"\x1f\x8b\x08not really gzip")
    return root


def n_frames(names=FRAMES) -> int:
    return sum(FRAMES[n] for n in names)
