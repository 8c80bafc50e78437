"""The named sets of the medical OOD dataset, their near/far group, modality and content."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShiftSpec:
    """One named set of images.

    Parameters
    ----------
    name : str
        The ``shift`` value of its manifest rows (also its folder under ``target/``).
    group : {"id", "near", "far"}
    modality : str
        The ``modality`` value of its rows (MR, CT, CR, US, NM, fundus, histology,
        microscopy, natural).
    description : str
        What the images are, in one line.
    """

    name: str
    group: str
    modality: str
    description: str


ARTIFACT_TYPES = ("ghosting", "motion", "spike", "noise", "blur", "bias-field")

_SPECS = (
    ShiftSpec(
        "reference",
        "id",
        "MR",
        "MNI152 2009 T1 template as synthetic subjects (3-D affine + elastic + intensity "
        "variation), axial slices",
    ),
    ShiftSpec("id", "id", "MR", "axial slices of held-out synthetic subjects, unchanged"),
    ShiftSpec(
        "artifact-ghosting",
        "near",
        "MR",
        "held-out slices with k-space ghosting along the phase-encode axis (torchio Ghosting)",
    ),
    ShiftSpec(
        "artifact-motion",
        "near",
        "MR",
        "held-out slices with rigid motion between k-space segments (torchio Motion)",
    ),
    ShiftSpec(
        "artifact-spike",
        "near",
        "MR",
        "held-out slices with a k-space spike: herringbone stripes (torchio Spike)",
    ),
    ShiftSpec(
        "artifact-noise", "near", "MR", "held-out slices with Gaussian noise (torchio Noise)"
    ),
    ShiftSpec("artifact-blur", "near", "MR", "held-out slices with Gaussian blur (torchio Blur)"),
    ShiftSpec(
        "artifact-bias-field",
        "near",
        "MR",
        "held-out slices with a smooth multiplicative intensity inhomogeneity (torchio BiasField)",
    ),
    ShiftSpec(
        "mr-epi",
        "near",
        "MR",
        "real T2*-weighted gradient-echo EPI (BOLD fMRI) of a brain, 2 mm, axial slices",
    ),
    ShiftSpec(
        "mr-brain-small-fov",
        "near",
        "MR",
        "real brain MR with a small field of view: zoomed 3-D T1 frames and a cropped T1 volume",
    ),
    ShiftSpec(
        "brain-tissue-map",
        "near",
        "MR",
        "MNI152 2009 grey- and white-matter tissue probability maps (derived from MR, not an "
        "acquired contrast), axial slices",
    ),
    ShiftSpec("mr-other-anatomy", "far", "MR", "real MR of other body parts: shoulder, abdomen"),
    ShiftSpec("ct", "far", "CT", "real CT slices: head, abdomen, thoracic spine"),
    ShiftSpec("xray", "far", "CR", "real computed radiographs: chest PA, lower leg"),
    ShiftSpec(
        "ultrasound",
        "far",
        "US",
        "real ultrasound: Doppler of a lymph node, obstetric, pelvic, echocardiography frames",
    ),
    ShiftSpec("nuclear-medicine", "far", "NM", "real whole-body bone scintigraphy"),
    ShiftSpec("fundus", "far", "fundus", "real colour and grey retinal fundus photographs"),
    ShiftSpec("histology", "far", "histology", "real immunohistochemistry-stained tissue section"),
    ShiftSpec("microscopy", "far", "microscopy", "real light-microscopy image of cells"),
    ShiftSpec(
        "natural",
        "far",
        "natural",
        "non-medical photographs: people, animals, objects, the Moon",
    ),
)

#: Every set by name, in manifest order (reference first).
SHIFTS: dict[str, ShiftSpec] = {spec.name: spec for spec in _SPECS}

#: Near-OOD vs far-OOD, stated up front. ``id``: the reference's distribution (new subjects).
#: ``near``: still a brain and still MR; only the acquisition (artifacts) or the contrast,
#: sequence or field of view differs -- the shifts that reach a deployed model unnoticed and
#: are hard to detect. ``far``: the anatomy, the modality or the whole domain differs -- a
#: detector that misses these is broken.
GROUPS: dict[str, tuple[str, ...]] = {
    group: tuple(spec.name for spec in _SPECS if spec.group == group)
    for group in ("id", "near", "far")
}
