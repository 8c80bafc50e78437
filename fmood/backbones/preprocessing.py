"""Turn a read image (float32 in [0, 1], grey or RGB) into the tensor a backbone expects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from fmood.errors import InvalidInputError

#: Normalisation constants of the common pre-training recipes.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

RESIZE_MODES = ("squash", "crop", "pad")
INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True)
class Preprocessing:
    """Resize, rescale and normalise an image to a (3, size, size) float32 tensor.

    Parameters
    ----------
    size : int
        Side of the square the backbone takes.
    resize : {"squash", "crop", "pad"}
        ``squash`` resizes to size x size ignoring the aspect ratio; ``crop`` resizes the
        shorter side to ``size / crop_fraction`` and takes the centre square (CLIP, DINOv2);
        ``pad`` resizes the longer side to ``size`` and zero-pads bottom and right (SAM).
    crop_fraction : float
        Share of the resized shorter side kept by ``crop`` (1.0 = no margin, DINOv2 0.875).
    mean, std : tuple of 3 floats
        Per-channel normalisation applied after resizing: ``(x - mean) / std``.
    minmax : bool
        Stretch each image to its own [min, max] before normalising (MedSAM does this).
    interpolation : {"bilinear", "bicubic"}
        Resampling filter (antialiased when shrinking); use the one the model was trained with.
    """

    size: int
    resize: str = "squash"
    crop_fraction: float = 1.0
    # Read from model configs of any length: __post_init__ checks there are 3.
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    minmax: bool = False
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 1:
            raise InvalidInputError(f"Preprocessing.size must be a positive int, got {self.size!r}")
        if self.resize not in RESIZE_MODES:
            raise InvalidInputError(
                f"Preprocessing.resize must be one of {RESIZE_MODES}, got {self.resize!r}"
            )
        if self.interpolation not in INTERPOLATIONS:
            raise InvalidInputError(
                f"Preprocessing.interpolation must be one of {INTERPOLATIONS}, "
                f"got {self.interpolation!r}"
            )
        if not 0.0 < self.crop_fraction <= 1.0:
            raise InvalidInputError(
                f"Preprocessing.crop_fraction must be in (0, 1], got {self.crop_fraction!r}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise InvalidInputError(
                f"Preprocessing.mean and std need 3 values each, std > 0; "
                f"got mean={self.mean}, std={self.std}"
            )

    def describe(self) -> str:
        """Canonical one-line form, part of a backbone's fingerprint."""
        parts = [f"size={self.size}", f"resize={self.resize}"]
        if self.resize == "crop":
            parts.append(f"crop_fraction={self.crop_fraction:g}")
        parts.append("mean=" + ",".join(f"{v:g}" for v in self.mean))
        parts.append("std=" + ",".join(f"{v:g}" for v in self.std))
        if self.minmax:
            parts.append("minmax")
        if self.interpolation != "bilinear":
            parts.append(self.interpolation)
        return ";".join(parts)

    def __call__(self, pixels: np.ndarray) -> torch.Tensor:
        """Preprocess one image.

        Parameters
        ----------
        pixels : ndarray of shape (H, W) or (H, W, 3)
            Intensities in [0, 1] (grey images are repeated over the 3 channels).

        Returns
        -------
        Tensor of shape (3, size, size), float32
        """
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if pixels.ndim != 3 or pixels.shape[2] not in (1, 3) or min(pixels.shape[:2]) < 1:
            raise InvalidInputError(
                f"an image must have shape (H, W) or (H, W, 3), got {pixels.shape}"
            )
        # A grey image is resized as one channel and repeated after: a third of the work.
        x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
        if self.minmax:
            low, high = x.min(), x.max()
            x = (x - low) / torch.clamp(high - low, min=1e-8)
        x = self._resize(x).expand(3, -1, -1)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(3, 1, 1)
        x = (x - mean) / std
        if self.resize == "pad":  # after normalising, as SAM pads: the margin reads as 0
            x = F.pad(x, (0, self.size - x.shape[2], 0, self.size - x.shape[1]))
        return x.contiguous()

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:]
        s = self.size
        if self.resize == "squash":
            return _interpolate(x, (s, s), self.interpolation)
        if self.resize == "crop":
            short = max(s, round(s / self.crop_fraction))
            scale = short / min(h, w)
            nh, nw = max(short, round(h * scale)), max(short, round(w * scale))
            x = _interpolate(x, (nh, nw), self.interpolation)
            top, left = (nh - s) // 2, (nw - s) // 2
            return x[:, top : top + s, left : left + s]
        scale = s / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        return _interpolate(x, (nh, nw), self.interpolation)


def _interpolate(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[1:]) == size:
        return x
    # Antialiasing matters when shrinking 512-1024 px scans: without it, noise aliases
    # into the features and looks like an acquisition shift.
    out = F.interpolate(x[None], size=size, mode=mode, align_corners=False, antialias=True)[0]
    # Bicubic overshoots at edges; keep intensities in the range they came in.
    return out.clamp(float(x.min()), float(x.max())) if mode == "bicubic" else out
