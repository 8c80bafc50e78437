"""DINOv2 ViT-S/B/L/g-14 through transformers' ``Dinov2Model`` (hub, local directory or random)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from fmood.backbones.base import Backbone, concat_layers, layer_blocks, parse_layers
from fmood.backbones.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from fmood.backbones.registry import require
from fmood.backbones.weights import hub_unavailable, local_weights
from fmood.errors import BackboneError, InvalidInputError

if TYPE_CHECKING:
    from transformers import Dinov2Model

#: DINOv2 evaluation transform: shorter side to 256 (bicubic), centre 224 crop, ImageNet
#: statistics.
PREPROCESSING = Preprocessing(
    224,
    resize="crop",
    crop_fraction=224 / 256,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    interpolation="bicubic",
)
#: size -> (hidden_size, num_hidden_layers, num_attention_heads) of the released models.
SIZES: dict[str, tuple[int, int, int]] = {
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
    "giant": (1536, 40, 24),
}
POOLINGS = ("cls", "mean", "cls+mean")
#: Seed of the random-weights control, so that two runs of it give the same vectors.
RANDOM_SEED = 0


def hub_id(size: str) -> str:
    """Hugging Face repository of the released DINOv2 of this size."""
    return f"facebook/dinov2-{size}"


def dinov2_config(size: str, transformers: Any = None) -> Any:
    """The ``Dinov2Config`` of the released ``facebook/dinov2-{size}`` model.

    All four are patch 14, trained at 518 px (37 x 37 position embeddings), with layer
    scale; giant alone uses a SwiGLU MLP (hidden 4096 = 2/3 of 4 x 1536, rounded to 8).
    """
    if size not in SIZES:
        raise BackboneError(f"no DINOv2 of size {size!r}; sizes: {', '.join(SIZES)}")
    if transformers is None:
        transformers = require("transformers", "transformers", f"dinov2-{size}")
    hidden, depth, heads = SIZES[size]
    return transformers.Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=depth,
        num_attention_heads=heads,
        mlp_ratio=4,
        use_swiglu_ffn=size == "giant",
        image_size=518,
        patch_size=14,
        layerscale_value=1.0,
        layer_norm_eps=1e-6,
        qkv_bias=True,
        attn_implementation="sdpa",
    )


class Dinov2Backbone(Backbone):
    """Pooled final-layer tokens of DINOv2 (Oquab et al., TMLR 2024).

    ``pooling`` reads the final layer-normed tokens: ``"cls"`` the class token,
    ``"mean"`` the mean of the patch tokens (class and any register tokens left out),
    ``"cls+mean"`` both concatenated (what DINOv2's linear probes read; 2 x hidden).
    ``layers`` (1-based transformer blocks) adds the same pooling of those blocks'
    outputs, passed through the final layer norm as DINOv2's
    ``get_intermediate_layers(norm=True)`` does, each unit-normed and concatenated
    before the final features; ``blocks`` names them ``("block<i>", width)`` in the order
    given, then ``("final", width)``.
    """

    module: Dinov2Model

    def __init__(
        self,
        name: str,
        model: Dinov2Model,
        pooling: str,
        layers: tuple[int, ...],
        device: str,
    ) -> None:
        if pooling not in POOLINGS:
            raise InvalidInputError(f"{name}: pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.layers = layers
        self._first_patch = 1 + int(getattr(model.config, "num_register_tokens", 0) or 0)
        hidden = model.config.hidden_size
        width = 2 * hidden if pooling == "cls+mean" else hidden
        options = f"pooling={pooling}"
        if layers:
            options += f";layers={','.join(map(str, layers))}"
        super().__init__(
            name,
            model,
            PREPROCESSING,
            width * (len(layers) + 1),
            device=device,
            options=options,
            blocks=layer_blocks("block", layers, [width] * len(layers), width),
        )

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.module(pixel_values=batch, output_hidden_states=bool(self.layers))
        # hidden_states[0] is the embedding output, [i] the output of block i (before the
        # final layer norm, which last_hidden_state already has).
        norm = self.module.layernorm
        taken = [self._pool(norm(out.hidden_states[i])) for i in self.layers]
        return concat_layers([*taken, self._pool(out.last_hidden_state)])

    def _pool(self, tokens: torch.Tensor) -> torch.Tensor:
        cls = tokens[:, 0]
        if self.pooling == "cls":
            return cls
        mean = tokens[:, self._first_patch :].mean(dim=1)
        if self.pooling == "mean":
            return mean
        return torch.cat([cls, mean], dim=1)


def load_dinov2(
    name: str,
    weights: str | None = None,
    device: str = "auto",
    pooling: str = "cls",
    layers: Sequence[int] | str | None = None,
    pretrained: bool = True,
) -> Dinov2Backbone:
    """DINOv2 ``name`` (``"dinov2-small|base|large|giant"``) ready to embed.

    Parameters
    ----------
    weights : str, optional
        A hub id or a local directory written by ``save_pretrained`` (``config.json``
        and ``model.safetensors``); None takes ``facebook/dinov2-{size}`` from the hub.
    pooling : {"cls", "mean", "cls+mean"}
    layers : sequence of int or str, optional
        1-based transformer blocks whose pooled outputs join the final features.
    pretrained : bool
        False builds the architecture with random weights (seeded, so reproducible): a
        control for what the architecture alone gives. Needs no network.
    """
    size = name.removeprefix("dinov2-") if isinstance(name, str) else None
    if size not in SIZES:
        raise BackboneError(
            f"unknown DINOv2 {name!r}; names: {', '.join(f'dinov2-{s}' for s in SIZES)}"
        )
    if pooling not in POOLINGS:
        raise InvalidInputError(f"{name}: pooling must be one of {POOLINGS}, got {pooling!r}")
    # The depth is the size's (a loaded config must match it), so layers fail before loading.
    chosen = parse_layers(layers, SIZES[size][1], name)
    transformers = require("transformers", "transformers", name)
    if pretrained:
        model = _load_pretrained(transformers, name, size, weights)
    else:
        if weights is not None:
            raise InvalidInputError(
                f"{name}: pretrained=False builds random weights; drop weights={weights!r}"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            model = transformers.Dinov2Model(dinov2_config(size, transformers))
    return Dinov2Backbone(name, model.float(), pooling, chosen, device)


def _load_pretrained(transformers: Any, name: str, size: str, weights: str | None) -> Any:
    path = local_weights(weights)
    if path is not None and not path.is_dir():
        raise BackboneError(
            f"{path}: {name} weights must be a directory written by save_pretrained "
            f"(config.json + model.safetensors) or a hub id, not a file"
        )
    source = str(path) if path is not None else weights or hub_id(size)
    try:
        config = transformers.AutoConfig.from_pretrained(source)
    except OSError as exc:
        raise _unavailable(name, source, path, exc) from exc
    except ValueError as exc:  # no model_type, or one this transformers does not know
        if path is not None:
            raise _unavailable(name, source, path, exc) from exc
        raise BackboneError(f"{source}: not a {name} model ({_first_line(exc)})") from exc
    _check_config(config, name, size, source)
    try:
        model, info = transformers.Dinov2Model.from_pretrained(
            source, config=config, attn_implementation="sdpa", output_loading_info=True
        )
    except OSError as exc:
        raise _unavailable(name, source, path, exc) from exc
    # The mask token only serves masked-image pre-training; it starts at zeros when absent.
    missing = sorted(set(info.get("missing_keys") or ()) - {"embeddings.mask_token"})
    mismatched = list(info.get("mismatched_keys") or ())
    if missing or mismatched:
        raise BackboneError(
            f"{source}: weights do not fit {name}: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(mismatched)} of the wrong shape (e.g. {mismatched[:3]})"
        )
    return model


def _check_config(config: Any, name: str, size: str, source: str) -> None:
    """A DINOv2 of the size ``name`` says, or an error that names ``source`` and the fix."""
    model_type = getattr(config, "model_type", None)
    if model_type != "dinov2":
        raise BackboneError(
            f"{source}: holds a {model_type!r} model, not a DINOv2 (model_type 'dinov2'); "
            f"{name} needs a directory saved from transformers' Dinov2Model"
        )
    found = (config.hidden_size, config.num_hidden_layers)
    expected = SIZES[size][:2]
    if found != expected:
        fits = [f"dinov2-{s}" for s, shape in SIZES.items() if shape[:2] == found]
        hint = f"; it is {fits[0]}: pass that name instead" if fits else ""
        raise BackboneError(
            f"{source}: holds a DINOv2 with hidden_size {found[0]} and {found[1]} layers, "
            f"but {name} has hidden_size {expected[0]} and {expected[1]} layers{hint}"
        )


def _unavailable(name: str, source: str, path: Path | None, exc: BaseException) -> BackboneError:
    if path is None:
        return hub_unavailable(name, source, exc)
    return BackboneError(
        f"{path}: not a saved {name} model: expected config.json and model.safetensors "
        f"written by save_pretrained ({_first_line(exc)})"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
