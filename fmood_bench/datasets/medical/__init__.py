"""A medical OOD dataset of real images that install with pip, for the demo and the benchmark.

:func:`make_medical_ood_dataset` writes PNG files and two manifests (``reference.csv``,
``target.csv``) that :func:`fmood.io.list_dataset` reads.

In-distribution: axial T1 brain MR slices of synthetic subjects. The MNI152 2009 template
(nilearn; the only real whole-brain T1 volume on PyPI) becomes one subject per random 3-D
affine + elastic deformation and intensity change (gamma, bias field, noise), drawn once
per subject with torchio; see :mod:`fmood_bench.datasets.medical.sources`. The reference and the
target ``id`` set hold different subjects, so adjacent, near-duplicate slices never sit on
both sides.

Near-OOD vs far-OOD, stated up front (:data:`GROUPS`):

* ``id``: ``reference`` and the held-out subjects ``id``.
* ``near``: still a brain and still MR; only the acquisition or the contrast differs. The
  six MR artifacts (``artifact-ghosting``, ``-motion``, ``-spike``, ``-noise``, ``-blur``,
  ``-bias-field``) on held-out slices at graded severities with fixed torchio parameters
  (:mod:`fmood_bench.datasets.medical.artifacts`), real EPI (``mr-epi``), real brain MR with a
  small field of view (``mr-brain-small-fov``) and the template's grey/white-matter
  tissue probability maps (``brain-tissue-map``, derived images, not an acquired contrast).
  These reach a deployed model unnoticed and are the hard cases.
* ``far``: the anatomy, the modality or the whole domain differs: ``mr-other-anatomy``
  (shoulder, abdomen), ``ct``, ``xray``, ``ultrasound``, ``nuclear-medicine``, ``fundus``,
  ``histology``, ``microscopy`` and ``natural`` (non-medical photographs). A detector that
  misses these is broken.

Images per set at the defaults (12 + 4 subjects, 24 slices, 5 severities, 8 artifact slices):
reference 288; id 96; each artifact 40 (8 slices x 5 levels); mr-epi 12; mr-brain-small-fov 16;
brain-tissue-map 12; mr-other-anatomy 8; ct 10; xray 10; ultrasound 13; nuclear-medicine 3;
fundus 8; histology 8; microscopy 4; natural 16: 744 in all. Images from single files are the
whole image plus random crops (the ``transform`` column gives each box); images over 512
pixels are downscaled.

An in-distribution task for classifier-based detectors and failure prediction:
:func:`axial_level` (inferior / middle / superior slices).
"""

from fmood_bench.datasets.medical.artifacts import apply_artifact, artifact_parameters
from fmood_bench.datasets.medical.builder import (
    COLUMNS,
    MedicalOODDataset,
    make_medical_ood_dataset,
)
from fmood_bench.datasets.medical.labels import LEVELS, axial_level
from fmood_bench.datasets.medical.shifts import ARTIFACT_TYPES, GROUPS, SHIFTS, ShiftSpec
from fmood_bench.datasets.medical.sources import FILE_SOURCES, VOLUME_SOURCES

__all__ = [
    "ARTIFACT_TYPES",
    "COLUMNS",
    "FILE_SOURCES",
    "GROUPS",
    "LEVELS",
    "SHIFTS",
    "VOLUME_SOURCES",
    "MedicalOODDataset",
    "ShiftSpec",
    "apply_artifact",
    "artifact_parameters",
    "axial_level",
    "make_medical_ood_dataset",
]
