"""MedSAM's ViT-B image encoder, from the original ``medsam_vit_b.pth``, in transformers' SAM."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from fmood.backbones.base import Backbone, pool
from fmood.backbones.preprocessing import Preprocessing
from fmood.backbones.registry import require
from fmood.backbones.weights import load_state_dict, load_strict, local_weights
from fmood.errors import BackboneError, InvalidInputError, WeightsUnavailableError

if TYPE_CHECKING:
    from transformers import SamVisionModel

#: MedSAM inference: grey to 3 channels, each image min-max scaled to [0, 1], resized to
#: 1024 x 1024 ignoring the aspect ratio, no mean/std (the encoder was fine-tuned so).
PREPROCESSING = Preprocessing(1024, resize="squash", minmax=True)
#: SAM ViT-B image encoder (Kirillov et al., 2023), which MedSAM fine-tunes whole.
ENCODER_CONFIG: dict[str, Any] = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "mlp_dim": 3072,
    "global_attn_indexes": [2, 5, 8, 11],
    "window_size": 14,
    "output_channels": 256,
    "image_size": 1024,
    "patch_size": 16,
    # Only the random-weights control sees this (SAM's own default, 1e-10, makes every
    # random weight ~0); loaded weights replace it.
    "initializer_range": 0.02,
}
#: Seed of the random-weights control, so that two runs of it give the same vectors.
RANDOM_SEED = 0
WHERE_TO_GET = (
    "download medsam_vit_b.pth from the MedSAM README "
    "(https://github.com/bowang-lab/MedSAM, 'Model Checkpoints': Google Drive link)"
)
#: segment_anything ``ImageEncoderViT`` names -> ``SamVisionEncoder`` names, after the
#: renames of transformers' ``convert_sam_to_hf.py``. A no-op on names already in the
#: transformers layout.
_RENAMES = (
    (re.compile(r"^patch_embed\.proj\."), "patch_embed.projection."),
    (re.compile(r"^blocks\.(\d+)\.norm(\d)\."), r"layers.\1.layer_norm\2."),
    (re.compile(r"^blocks\."), "layers."),
    (re.compile(r"^neck\.0\."), "neck.conv1."),
    (re.compile(r"^neck\.1\."), "neck.layer_norm1."),
    (re.compile(r"^neck\.2\."), "neck.conv2."),
    (re.compile(r"^neck\.3\."), "neck.layer_norm2."),
)
_SAM_PREFIX = "image_encoder."  # segment_anything's Sam (and MedSAM's training wrapper)
_HF_PREFIX = "vision_encoder."  # transformers' SamVisionModel and SamModel


class MedSAMBackbone(Backbone):
    """Global-average-pooled 256-d neck output of MedSAM's image encoder.

    MedSAM (Ma et al., Nat. Commun. 2024) fine-tunes SAM ViT-B on 1.57 million medical
    image-mask pairs over 10 modalities; its encoder maps a 1024 x 1024 image to a
    (256, 64, 64) embedding, averaged here over space.
    """

    def __init__(self, name: str, model: SamVisionModel, device: str) -> None:
        config = model.config
        if not isinstance(config.image_size, int):
            raise BackboneError(f"{name}: needs a square image_size, got {config.image_size!r}")
        preprocessing = dataclasses.replace(PREPROCESSING, size=config.image_size)
        super().__init__(name, model, preprocessing, config.output_channels, device=device)

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        return pool(self.module(pixel_values=batch).last_hidden_state)


def encoder_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The image-encoder part of a SAM checkpoint, keyed as ``SamVisionModel`` keys it.

    Accepts segment_anything's layout (a whole ``Sam``: ``image_encoder.*`` next to
    ``prompt_encoder.*`` and ``mask_decoder.*``, or a bare ``ImageEncoderViT``), and
    transformers' (``SamVisionModel`` or ``SamModel``: ``vision_encoder.*``, or a bare
    ``SamVisionEncoder``), also behind a ``module.`` prefix from DataParallel.
    """
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith(_HF_PREFIX) for k in state):
        return {k: v for k, v in state.items() if k.startswith(_HF_PREFIX)}
    if any(k.startswith(_SAM_PREFIX) for k in state):
        state = {k[len(_SAM_PREFIX) :]: v for k, v in state.items() if k.startswith(_SAM_PREFIX)}
    out = {}
    for key, value in state.items():
        for pattern, replacement in _RENAMES:
            key = pattern.sub(replacement, key)
        out[_HF_PREFIX + key] = value
    return out


def load_medsam(
    name: str = "medsam",
    weights: str | None = None,
    device: str = "auto",
    pretrained: bool = True,
) -> MedSAMBackbone:
    """MedSAM's image encoder with the weights in ``weights``.

    Parameters
    ----------
    weights : str
        ``medsam_vit_b.pth`` (MedSAM's original checkpoint; the image encoder part is
        used), a ``.pth`` in transformers' ``SamVisionModel`` layout, or a directory
        written by ``save_pretrained`` (``SamVisionModel`` or ``SamModel``). There is no
        default: MedSAM's weights are not on a hub fmood can fetch from.
    pretrained : bool
        False builds the ViT-B with random weights (seeded, so reproducible): a control.
    """
    transformers = require("transformers", "transformers", name)
    if not pretrained and weights is not None:
        raise InvalidInputError(
            f"{name}: pretrained=False builds random weights; drop weights={weights!r}"
        )
    path = _weights_path(name, weights) if pretrained else None
    state = encoder_state(_read(path)) if path is not None else None  # fail before building
    config = transformers.SamVisionConfig(**ENCODER_CONFIG, attn_implementation="sdpa")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        model = transformers.SamVisionModel(config)
    if state is not None and path is not None:  # both or neither
        _load_fitting(model, state, path)
    return MedSAMBackbone(name, model.float(), device)


def _weights_path(name: str, weights: str | None) -> Path:
    how = (
        f"{WHERE_TO_GET}, then pass it: fmood embed --backbone {name} --weights PATH "
        f"(Python: fmood.backbones.load({name!r}, weights=PATH))"
    )
    if weights is None:
        raise WeightsUnavailableError(
            f"{name}: MedSAM's weights do not download by themselves; {how}"
        )
    path = local_weights(weights)
    if path is None:
        raise WeightsUnavailableError(f"{name}: {weights!r} is not a local file; {how}")
    return path


def _read(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.pth``/``.pt``/``.bin``/``.safetensors`` file or a HF directory."""
    if path.is_file():
        return load_state_dict(path)
    index = path / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_state_dict(path / shard))
        return state
    if (path / "model.safetensors").is_file():
        return load_state_dict(path / "model.safetensors")
    if (path / "pytorch_model.bin").is_file():
        return load_state_dict(path / "pytorch_model.bin")
    raise WeightsUnavailableError(
        f"{path}: no model.safetensors or pytorch_model.bin in this directory; "
        f"pass medsam_vit_b.pth itself or a directory written by save_pretrained"
    )


def _load_fitting(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """``load_strict``, with shape mismatches also reported as a :class:`BackboneError`."""
    own = model.state_dict()
    wrong = [k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise BackboneError(
            f"{source}: weights do not fit MedSAM's ViT-B image encoder: {len(wrong)} tensors of "
            f"the wrong shape, e.g. {k} is {tuple(state[k].shape)}, expected {tuple(own[k].shape)}"
        )
    load_strict(model, state, source)
