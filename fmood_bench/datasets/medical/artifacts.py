"""Graded MR acquisition artifacts on 2-D slices: fixed torchio parameters, no random ranges.

Severity ``s`` of ``S`` levels (``s = 1 .. S``, mild to strong) uses the strength ``t = s / S``:
the levels are evenly spaced and the strongest is the same whatever ``S``. At the default
``S = 5`` (``t = 0.2, 0.4, 0.6, 0.8, 1.0``):

============  ==========  ==================================================================
artifact      torchio     parameters at strength t (slice intensities in [0, 1], 1 mm pixels)
============  ==========  ==================================================================
ghosting      Ghosting    4 ghosts along the rows (anterior-posterior phase encoding),
                          intensity t (0.2 .. 1.0), 2% of the k-space centre restored
motion        Motion      two movements: in-plane rotations 6t and -8t degrees, translations
                          (6t, -4t) and (-6t, 6t) mm; the outer 2 (0.15 + 0.25 t) of the
                          k-space columns (0.4 .. 0.8) come from the moved positions
spike         Spike       one k-space spike at (0.56, 0.60) of the in-plane k-space,
                          intensity 0.5 t (0.1 .. 0.5) of the spectrum's maximum
noise         Noise       Gaussian, mean 0, std 0.15 t (0.03 .. 0.15), one fixed seed per slice
                          (the same noise pattern, scaled, at every severity)
blur          Blur        Gaussian, std 2.5 t pixels (0.5 .. 2.5) in-plane
bias-field    BiasField   log-field t (0.3 c - 0.15 c^2 - 0.35 r + 0.2 r c + 0.1 r^2), r and c
                          the row and column coordinates scaled to [-1, 1]: a gain from about
                          0.41 to 1.59 at t = 1
============  ==========  ==================================================================

Every result is clipped to [0, 1]. A slice enters torchio as a tensor of shape (1, 1, H, W),
not (1, H, W, 1): torchio's ``Motion`` splits k-space along the last spatial axis, so with a
singleton last axis it only shifts the image and adds no artifact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from fmood.errors import InvalidInputError
from fmood_bench.datasets.medical.shifts import ARTIFACT_TYPES

if TYPE_CHECKING:  # torch and torchio load in seconds: imported when first used
    import torchio as tio

__all__ = ["ARTIFACT_TYPES", "apply_artifact", "artifact_parameters", "strength"]

# Bias field coefficients in torchio's order for order 2 (x = the singleton axis, y = rows,
# z = columns): 1, z, z^2, y, y z, y^2, x, x z, x y, x^2. Terms in x vanish on a slice.
_BIAS_COEFFICIENTS = np.array([0.0, 0.3, -0.15, -0.35, 0.2, 0.1, 0.0, 0.0, 0.0, 0.0])
_SPIKE_POSITION = np.array([[0.0, 0.56, 0.60]])


def strength(severity: int, severities: int) -> float:
    """The strength ``t = severity / severities`` in (0, 1] of one severity level."""
    if not 1 <= severity <= severities:
        raise InvalidInputError(f"severity must be in 1..{severities}, got {severity}")
    return severity / severities


def _ghosting(t: float, seed: int) -> tuple[tio.Transform, str]:
    import torchio as tio

    intensity = round(t, 4)
    return (
        tio.Ghosting(num_ghosts=4, axis=1, intensity=intensity, restore=0.02),
        f"ghosting num_ghosts=4 axis=rows intensity={intensity} restore=0.02",
    )


def _motion(t: float, seed: int) -> tuple[tio.Transform, str]:
    import torchio as tio

    edge = round(0.15 + 0.25 * t, 4)
    degrees = np.array([[6 * t, 0, 0], [-8 * t, 0, 0]])
    translation = np.array([[0, 6 * t, -4 * t], [0, -6 * t, 6 * t]])
    transform = tio.Motion(
        degrees=degrees,
        translation=translation,
        times=np.array([edge, 1 - edge]),
        image_interpolation="linear",
    )
    return transform, (
        f"motion rotations=({6 * t:.2f},{-8 * t:.2f}) deg translations=({6 * t:.2f},{-4 * t:.2f})"
        f",({-6 * t:.2f},{6 * t:.2f}) mm times=({edge},{round(1 - edge, 4)})"
    )


def _spike(t: float, seed: int) -> tuple[tio.Transform, str]:
    import torchio as tio

    intensity = round(0.5 * t, 4)
    return (
        tio.Spike(spikes_positions=_SPIKE_POSITION, intensity=intensity),
        f"spike position=(0.56,0.60) intensity={intensity}",
    )


def _noise(t: float, seed: int) -> tuple[tio.Transform, str]:
    import torchio as tio

    std = round(0.15 * t, 4)
    return tio.Noise(mean=0.0, std=std, seed=seed), f"noise std={std} seed={seed}"


def _blur(t: float, seed: int) -> tuple[tio.Transform, str]:
    import torchio as tio

    std = round(2.5 * t, 4)
    return tio.Blur(std=(0.0, std, std)), f"blur std={std} px"


def _bias_field(t: float, seed: int) -> tuple[tio.Transform, str]:
    import torchio as tio

    coefficients = [round(float(c) * t, 4) for c in _BIAS_COEFFICIENTS]
    return (
        tio.BiasField(coefficients=coefficients, order=2),
        f"bias-field order=2 scale={round(t, 4)}",
    )


_FACTORIES: dict[str, Callable[[float, int], tuple[tio.Transform, str]]] = {
    "ghosting": _ghosting,
    "motion": _motion,
    "spike": _spike,
    "noise": _noise,
    "blur": _blur,
    "bias-field": _bias_field,
}


def artifact_parameters(artifact: str, severity: int, severities: int, seed: int = 0) -> str:
    """The fixed parameters of one artifact level, as written in the manifest."""
    return _factory(artifact)(strength(severity, severities), seed)[1]


def _factory(artifact: str) -> Callable[[float, int], tuple[tio.Transform, str]]:
    try:
        return _FACTORIES[artifact]
    except KeyError:
        raise InvalidInputError(
            f"unknown artifact {artifact!r}; use one of {', '.join(ARTIFACT_TYPES)}"
        ) from None


def apply_artifact(
    pixels: np.ndarray, artifact: str, severity: int, severities: int, *, seed: int = 0
) -> tuple[np.ndarray, str]:
    """One artifact at one severity on a grey slice.

    Parameters
    ----------
    pixels : ndarray of shape (H, W), float
        The clean slice, intensities in [0, 1].
    artifact : str
        One of :data:`ARTIFACT_TYPES`.
    severity, severities : int
        The level, 1 (mild) to ``severities`` (strong).
    seed : int
        The noise seed (used by ``noise`` only).

    Returns
    -------
    pixels : ndarray of shape (H, W), float32 in [0, 1]
    parameters : str
        The transform and its parameters, for the manifest.
    """
    import torch
    import torchio as tio

    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim != 2:
        raise InvalidInputError(f"apply_artifact takes a grey (H, W) slice, got {pixels.shape}")
    transform, parameters = _factory(artifact)(strength(severity, severities), seed)
    image = tio.ScalarImage(tensor=torch.from_numpy(pixels.copy())[None, None])
    out = transform(image).data[0, 0].numpy()
    return np.clip(out, 0.0, 1.0).astype(np.float32), parameters
