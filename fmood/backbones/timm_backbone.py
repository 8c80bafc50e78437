"""Any timm image model as a backbone: ``load("timm:<model>")``, pooled pre-logits features.

``<model>`` is a timm model name, optionally with a pretrained tag
(``timm:convnext_tiny.fb_in22k``); ``timm.list_models()`` lists them, and
``timm.list_pretrained("convnext*")`` the tags. Weights come from timm's own hub download,
or from a local file or a copy of the model's hub repository (``hf download
timm/<model>.<tag> --local-dir DIR``, then ``weights=DIR``).

Preprocessing follows the weights' pretrained config (input size, interpolation, mean/std,
crop_pct), on the float image rather than timm's 8-bit PIL image.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fmood.backbones.base import Backbone, concat_layers, layer_blocks, parse_layers, pool
from fmood.backbones.preprocessing import Preprocessing
from fmood.backbones.registry import require
from fmood.backbones.weights import hub_unavailable, load_state_dict, load_strict, local_weights
from fmood.errors import BackboneError, WeightsUnavailableError

#: Weight files of a timm hub repository, preferred first.
CHECKPOINT_NAMES = ("model.safetensors", "pytorch_model.bin", "pytorch_model.pth")
_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


class TimmBackbone(Backbone):
    """A timm model's pooled pre-logits features (``forward_head(..., pre_logits=True)``).

    The vector is what the classifier would see: global-pooled final features (CNNs), the
    class token or pooled tokens after the final norm (ViTs), after any pre-logits layer
    (``model.head_hidden_size`` wide). ``layers`` (1-based indices into
    ``model.feature_info``: blocks of a ViT, stages of a CNN) adds those outputs from
    ``forward_intermediates``, averaged over space (ViT: over patch tokens), each
    unit-normed and concatenated before the final vector, itself unit-normed then;
    ``blocks`` names them ``("layer<i>", width)``, then ``("final", width)``.

    Parameters
    ----------
    net : torch.nn.Module
        A timm model built with ``num_classes=0``.
    model : str
        timm model name as given (fingerprint name ``timm:<model>``).
    layers : sequence of int
        Validated 1-based feature indices.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    pretrained_cfg : dict, optional
        The weights' pretrained config (preprocessing); default ``net.pretrained_cfg``.
    """

    def __init__(
        self,
        net: torch.nn.Module,
        model: str,
        layers: Sequence[int] = (),
        device: str = "auto",
        pretrained_cfg: dict[str, Any] | None = None,
    ) -> None:
        name = f"timm:{model}"
        self.layers = tuple(sorted(layers))
        info = list(getattr(net, "feature_info", None) or [])
        if self.layers and not (info and hasattr(net, "forward_intermediates")):
            raise BackboneError(
                f"{name}: this timm model has no forward_intermediates; drop layers"
            )
        dims = [int(info[i - 1]["num_chs"]) for i in self.layers]
        timm_net: Any = net  # timm's own attributes are untyped on nn.Module
        head = int(getattr(net, "head_hidden_size", None) or timm_net.num_features)
        cfg = pretrained_cfg if pretrained_cfg is not None else timm_net.pretrained_cfg
        options = f"layers={','.join(map(str, self.layers))}" if self.layers else ""
        super().__init__(
            name,
            net,
            timm_preprocessing(cfg, name),
            sum(dims) + head,
            device=device,
            options=options,
            blocks=layer_blocks("layer", self.layers, dims, head),
        )

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        net: Any = self.module  # timm's forward_* methods are untyped on nn.Module
        if not self.layers:
            return net.forward_head(net.forward_features(batch), pre_logits=True)
        final, intermediates = net.forward_intermediates(
            batch, indices=[i - 1 for i in self.layers]
        )
        taken = [pool(x) for x in intermediates]
        return concat_layers([*taken, net.forward_head(final, pre_logits=True)])


def load_timm(
    model: str,
    weights: str | None = None,
    device: str = "auto",
    layers: Sequence[int] | str | None = None,
    pretrained: bool = True,
) -> TimmBackbone:
    """The timm model ``model`` without its classifier, with its weights.

    Parameters
    ----------
    model : str
        timm model name, optionally ``<arch>.<tag>`` to pick pretrained weights.
    weights : str, optional
        None: timm's download of the pretrained weights. Otherwise a local ``.safetensors``,
        ``.pth``, ``.pt`` or ``.bin`` state dict in timm's key layout (with or without the
        classifier), or a directory holding one (``model.safetensors`` preferred) and
        optionally timm's ``config.json``, whose pretrained config then sets the
        preprocessing. Ignored when ``pretrained=False``.
    layers : sequence of int or str, optional
        Intermediate features to add (see :class:`TimmBackbone`).
    pretrained : bool
        False keeps random weights (a control: what the architecture alone gives).

    Raises
    ------
    BackboneError
        Unknown model or tag (the message lists close names), weights that hold pickled
        Python objects or do not fit, or a model timm has no weights for.
    WeightsUnavailableError
        The download failed (no network); the message says how to pass a local copy.
    """
    name = f"timm:{model}"
    timm = require("timm", "timm", name)
    _check_name(timm, model, name)
    path = local_weights(weights) if pretrained else None
    if pretrained and weights is not None and path is None:
        arch = timm.models.split_model_name_tag(model)[0]
        raise BackboneError(
            f"{name}: weights must be a local file or directory, got {weights!r}; for other "
            f"weights from timm put their tag in the name (timm:{arch}.<tag>, tags: "
            f"timm.list_pretrained('{arch}.*'))"
        )
    if pretrained and path is None:
        net = _from_hub(timm, model, name)
        return TimmBackbone(net, model, _layers(layers, net, name), device)
    net = timm.create_model(model, pretrained=False, num_classes=0)
    cfg = dict(net.pretrained_cfg)
    if path is not None:
        if path.is_dir():
            cfg.update(_directory_config(path, timm, model, name))
            path = _checkpoint_in(path)
        state = _read_state(path)
        _drop_classifier(state, net, cfg)
        load_strict(net, state, path)
    return TimmBackbone(net, model, _layers(layers, net, name), device, cfg)


def timm_preprocessing(pretrained_cfg: dict[str, Any], name: str) -> Preprocessing:
    """A timm pretrained config's eval transform: resize, centre crop (``crop_pct``), mean/std."""
    from timm.data import resolve_data_config

    data = resolve_data_config({}, pretrained_cfg=dict(pretrained_cfg))
    _, height, width = data["input_size"]
    if height != width:
        raise BackboneError(f"{name}: non-square input size {height}x{width} is not supported")
    crop = min(float(data.get("crop_pct") or 1.0), 1.0)
    squash = data.get("crop_mode") == "squash" and crop == 1.0

    def three(values: Sequence[float]) -> tuple[float, ...]:
        values = [float(v) for v in values]
        return tuple(values * 3 if len(values) == 1 else values)

    return Preprocessing(
        int(height),
        resize="squash" if squash else "crop",
        crop_fraction=crop,
        mean=three(data["mean"]),
        std=three(data["std"]),
        interpolation="bicubic" if data.get("interpolation") == "bicubic" else "bilinear",
    )


def _check_name(timm: Any, model: str, name: str) -> None:
    arch, _ = timm.models.split_model_name_tag(model)
    if not timm.is_model(arch):
        names = timm.list_models()
        close = [n for n in names if n.startswith(arch)][:3]  # "vit_base" -> vit_base_patch...
        close += [n for n in difflib.get_close_matches(arch, names, n=8) if n not in close]
        close = close[:5]
        hint = f"close matches: {', '.join(close)}" if close else "no close match"
        raise BackboneError(
            f"{name}: timm has no model {arch!r} ({hint}; all names: timm.list_models())"
        )
    try:
        timm.models.get_pretrained_cfg(model)
    except RuntimeError as exc:  # a tag the architecture does not have
        tags = timm.list_pretrained(f"{arch}.*")
        raise BackboneError(f"{name}: {exc} Tags: {', '.join(tags) or 'none'}") from exc


def _from_hub(timm: Any, model: str, name: str) -> torch.nn.Module:
    cfg = timm.models.get_pretrained_cfg(model)
    hub_id = getattr(cfg, "hf_hub_id", None)
    url = getattr(cfg, "url", None)
    if not (hub_id or url or getattr(cfg, "file", None)):
        raise BackboneError(
            f"{name}: timm has no pretrained weights for {model!r}; pass weights=FILE or "
            f"pretrained=False"
        )
    try:
        return timm.create_model(model, pretrained=True, num_classes=0)
    except OSError as exc:  # offline, unreachable, or the file is gone
        if hub_id:
            raise hub_unavailable(name, hub_id, exc) from exc
        raise WeightsUnavailableError(
            f"{name}: could not download {url} ({type(exc).__name__}: {exc}); download it "
            f"where there is network and pass it: fmood embed --backbone {name} --weights FILE"
        ) from exc


def _layers(layers: Sequence[int] | str | None, net: torch.nn.Module, name: str) -> tuple[int, ...]:
    return parse_layers(layers, len(getattr(net, "feature_info", None) or []), name)


def _directory_config(path: Path, timm: Any, model: str, name: str) -> dict[str, Any]:
    """The pretrained config in a timm hub repository copy's ``config.json``, if any."""
    config_path = path / "config.json"
    if not config_path.is_file():
        return {}
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackboneError(f"{config_path}: not a readable timm config ({exc})") from exc
    arch = timm.models.split_model_name_tag(model)[0]
    theirs = config.get("architecture")
    if theirs is not None and theirs != arch:
        raise BackboneError(
            f"{path}: these are weights for timm's {theirs!r}, not {arch!r}; "
            f"use --backbone timm:{theirs}"
        )
    return dict(config.get("pretrained_cfg", {}))


def _checkpoint_in(path: Path) -> Path:
    for candidate in CHECKPOINT_NAMES:
        if (path / candidate).is_file():
            return path / candidate
    found = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    if len(found) != 1:
        raise WeightsUnavailableError(
            f"{path}: expected {CHECKPOINT_NAMES[0]} or a single weights file "
            f"({', '.join(_SUFFIXES)}) in this directory, found {[p.name for p in found]}"
        )
    return found[0]


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix not in _SUFFIXES:
        raise BackboneError(f"{path}: weights must be {', '.join(_SUFFIXES)}, got {path.suffix!r}")
    return load_state_dict(path)


def _drop_classifier(state: dict[str, torch.Tensor], net: torch.nn.Module, cfg: dict) -> None:
    """Remove the classifier's weights, which the ``num_classes=0`` model does not have."""
    classifiers = cfg.get("classifier") or ()
    if isinstance(classifiers, str):
        classifiers = (classifiers,)
    own = net.state_dict()
    for classifier in classifiers:
        for key in (f"{classifier}.weight", f"{classifier}.bias"):
            if key in state and key not in own:
                del state[key]
