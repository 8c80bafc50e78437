"""Real medical images that ship inside packages, for tests that need real content.

MNI152 T1 template slices (nilearn), a chest radiograph (pydicom-data), and MR ghosting
(torchio) with fixed parameters. Cached: each is built once per test session.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np


@functools.cache
def brain_slices(n: int = 24, tissue: str = "t1") -> tuple[np.ndarray, ...]:
    """``n`` axial slices evenly spread over the middle 60% of an MNI152 2009 volume.

    ``tissue``: ``"t1"`` (the T1 template) or ``"gm"`` (the grey-matter probability map:
    same anatomy and geometry, other contrast).
    """
    import nibabel as nib
    from nilearn import datasets

    from fmood.io import read_nifti

    load = {"t1": datasets.load_mni152_template, "gm": datasets.load_mni152_gm_template}[tissue]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{tissue}.nii.gz"
        nib.save(load(resolution=1), path)
        slices = [im.pixels for im in read_nifti(path, axis=2)]
    picks = np.linspace(0.2 * len(slices), 0.8 * len(slices), n).astype(int)
    return tuple(slices[i] for i in picks)


@functools.cache
def chest_crops(n: int = 24, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``n`` random crops (60-95% of each side) of a real chest radiograph (CR, PA)."""
    from pydicom.data import get_testdata_file

    from fmood.io import read_dicom

    chest = read_dicom(get_testdata_file("RG1_UNCR.dcm", download=False))[0].pixels
    rng = np.random.default_rng(seed)
    h, w = chest.shape
    out = []
    for _ in range(n):
        f = rng.uniform(0.6, 0.95)
        ch, cw = int(h * f), int(w * f)
        y, x = rng.integers(0, h - ch), rng.integers(0, w - cw)
        out.append(np.ascontiguousarray(chest[y : y + ch, x : x + cw]))
    return tuple(out)


def ghosted(slices, intensity: float = 0.6) -> list[np.ndarray]:
    """The same slices with MR ghosting (torchio Ghosting, fixed parameters)."""
    import torch
    import torchio as tio

    transform = tio.Ghosting(num_ghosts=4, axis=0, intensity=intensity, restore=0.02)
    out = []
    for s in slices:
        image = tio.ScalarImage(tensor=torch.from_numpy(s)[None, ..., None])
        out.append(np.clip(transform(image).data[0, ..., 0].numpy(), 0, 1).astype(np.float32))
    return out


def separation_auroc(a: np.ndarray, b: np.ndarray) -> float:
    """AUROC of the 1-NN distance to the even rows of ``a``: its odd rows vs ``b``'s rows."""
    from fmood.metrics import auroc
    from fmood.scorers import get_scorer

    knn = get_scorer("knn", k=1).fit(a[0::2])
    return auroc(knn.score(a[1::2]), knn.score(b))
