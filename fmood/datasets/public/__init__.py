"""Optional readers for public medical OOD benchmarks that the user downloads.

Nothing here downloads anything: each reader takes files already on disk and, when they are
missing, says where to get them. The exports write PNG files (or point at the benchmark's own
files) and CSV manifests that :func:`fmood.io.list_dataset` reads, so ``fmood embed --data``
and ``fmood report`` use them directly.

* MedMNIST v2 / v3 ``.npz`` files (:func:`load_medmnist`) and MedMNIST-C corruption files
  (:func:`iter_medmnist_c`), written out by :func:`export_images`; see
  :mod:`fmood.datasets.public.medmnist` for the formats.
* The OpenMIBOOD benchmarks (MIDOG, PhaKIR, OASIS-3) through pytorch-ood's loaders
  (:func:`load_openmibood`, :func:`export_openmibood`; needs ``pytorch-ood==0.4.0``).
"""

from fmood.datasets.public.medmnist import (
    SEVERITIES,
    SPLITS,
    MedMNISTSplit,
    export_images,
    iter_medmnist_c,
    load_medmnist,
)
from fmood.datasets.public.openmibood import (
    BENCHMARKS,
    OpenMIBOODSet,
    export_openmibood,
    load_openmibood,
)

__all__ = [
    "BENCHMARKS",
    "SEVERITIES",
    "SPLITS",
    "MedMNISTSplit",
    "OpenMIBOODSet",
    "export_images",
    "export_openmibood",
    "iter_medmnist_c",
    "load_medmnist",
    "load_openmibood",
]
