"""BiomedCLIP: the image tower's projected, L2-normalised 512-d vector, and its text tower.

BiomedCLIP (Zhang et al., "BiomedCLIP: a multimodal biomedical foundation model pretrained
from fifteen million scientific image-text pairs", arXiv:2303.00915) is an open_clip model:
a timm ViT-B/16 image tower at 224 px and a PubMedBERT text tower, trained contrastively on
PMC-15M figure-caption pairs. Its weights are on the Hugging Face hub
(:data:`DEFAULT_HUB_ID`) in open_clip's layout: ``open_clip_config.json`` plus
``open_clip_pytorch_model.bin`` (or ``.safetensors``); the tokenizer is read from the same
directory when it holds tokenizer files, else fetched by the name in the config.

Only the image tower is built for embedding, so a local copy of the hub repository embeds
images with no network at all; the text tower is built the first time
:meth:`BiomedCLIPBackbone.encode_text` is called.

Preprocessing: as open_clip's, the shorter side resized to 224 with bicubic interpolation,
the centre 224 crop, CLIP mean/std. open_clip works on an 8-bit PIL image; fmood resizes the
float image (antialiased), so vectors are close to, not bit-identical with,
``model.encode_image(preprocess(pil_image))``: on chest radiograph crops and MNI152 slices
the whole open_clip transform differs from fmood's by 0.7% of the intensity range on average
(its 8-bit rounding and truncated long side), bicubic vs bilinear alone by 0.1-0.2%.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fmood.backbones.base import Backbone, concat_layers, layer_blocks, parse_layers, pool
from fmood.backbones.preprocessing import CLIP_MEAN, CLIP_STD, Preprocessing
from fmood.backbones.registry import require
from fmood.backbones.weights import hub_unavailable, load_state_dict, load_strict, local_weights
from fmood.errors import BackboneError, InvalidInputError, WeightsUnavailableError

DEFAULT_HUB_ID = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
CONFIG_NAME = "open_clip_config.json"
#: Checkpoint names open_clip looks for in a model directory, preferred first.
CHECKPOINT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")
_TEXT_BERT = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"

#: ``open_clip_config.json`` of :data:`DEFAULT_HUB_ID`: the architecture ``pretrained=False``
#: builds, and the one a bare checkpoint file is read with.
BIOMEDCLIP_CONFIG: dict[str, Any] = {
    "model_cfg": {
        "embed_dim": 512,
        "vision_cfg": {
            "timm_model_name": "vit_base_patch16_224",
            "timm_model_pretrained": False,
            "timm_pool": "",
            "timm_proj": "linear",
            "image_size": 224,
        },
        "text_cfg": {
            "hf_model_name": _TEXT_BERT,
            "hf_tokenizer_name": _TEXT_BERT,
            "hf_proj_type": "mlp",
            "hf_pooler_type": "cls_last_hidden_state_pooler",
            "context_length": 256,
        },
    },
    "preprocess_cfg": {"mean": list(CLIP_MEAN), "std": list(CLIP_STD)},
}


@dataclass(frozen=True)
class BiomedCLIPSource:
    """Where a BiomedCLIP model came from: its open_clip config and checkpoint.

    Parameters
    ----------
    config : dict
        The ``open_clip_config.json`` content (``model_cfg`` and ``preprocess_cfg``).
    checkpoint : Path, optional
        The full open_clip checkpoint (None for random weights); the text tower is read
        from it when first needed.
    directory : Path, optional
        Folder holding the config, checkpoint and tokenizer files, if any.
    """

    config: dict[str, Any]
    checkpoint: Path | None = None
    directory: Path | None = None

    @property
    def model_cfg(self) -> dict[str, Any]:
        return self.config["model_cfg"]


class BiomedCLIPBackbone(Backbone):
    """BiomedCLIP's image embedding: the projected 512-d vector, scaled to unit L2 norm.

    Unit norm is how CLIP compares images with each other and with text, so the dot
    product of two vectors (or of one with :meth:`encode_text`'s) is their cosine.

    ``layers`` (1-12, blocks of the ViT-B/16 trunk) adds each block's output averaged over
    the patch tokens (768-d), unit-normed and concatenated before the final vector;
    ``blocks`` names them ``("block<i>", 768)``, then ``("final", 512)``.

    Parameters
    ----------
    visual : torch.nn.Module
        open_clip's image tower (``model.visual``).
    source : BiomedCLIPSource
        Config and checkpoint, used for preprocessing and the text tower.
    layers : sequence of int
        Validated 1-based block indices (see :func:`~fmood.backbones.base.parse_layers`).
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    name : str
        Fingerprint name.
    """

    def __init__(
        self,
        visual: torch.nn.Module,
        source: BiomedCLIPSource,
        layers: Sequence[int] = (),
        device: str = "auto",
        name: str = "biomedclip",
    ) -> None:
        self.layers = tuple(sorted(layers))
        self.source = source
        self.embed_dim = int(source.model_cfg["embed_dim"])
        dims = []
        if self.layers:
            trunk = getattr(visual, "trunk", None)
            if trunk is None or not hasattr(trunk, "blocks"):
                raise BackboneError(f"{name}: layers need a timm ViT image tower (visual.trunk)")
            dims = [int(trunk.embed_dim)] * len(self.layers)
        options = f"layers={','.join(map(str, self.layers))}" if self.layers else ""
        super().__init__(
            name,
            visual,
            _preprocessing(source.config, name),
            sum(dims) + self.embed_dim,
            device=device,
            options=options,
            blocks=layer_blocks("block", self.layers, dims, self.embed_dim),
        )
        self._text: torch.nn.Module | None = None
        self._tokenizer: Any = None

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        if not self.layers:
            return F.normalize(self.module(batch).float(), dim=-1)
        tower: Any = self.module  # open_clip's image tower is untyped
        out = tower.forward_intermediates(
            batch, indices=[i - 1 for i in self.layers], output_fmt="NCHW"
        )
        taken = [pool(x) for x in out["image_intermediates"]]
        final = F.normalize(out["image_features"].float(), dim=-1)
        return concat_layers([*taken, final])

    def encode_text(self, prompts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-norm text embeddings in the same space as the image vectors (zero-shot).

        The text tower and tokenizer are built on the first call: from the checkpoint this
        backbone was loaded from, with the tokenizer files of its directory when it has
        them (as on the hub), else the tokenizer named in the config.

        Parameters
        ----------
        prompts : list of str
            E.g. ``["a chest X-ray", "a brain MRI"]``.
        batch_size : int
            Prompts per forward pass.

        Returns
        -------
        ndarray of shape (len(prompts), 512), float32
            Each row has unit L2 norm; ``image_vectors @ text.T`` are cosines (for an
            embedding without ``layers``).
        """
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise InvalidInputError(f"{self.name}: prompts must be a list of strings")
        prompts = list(prompts)
        if not prompts:
            return np.empty((0, self.embed_dim), dtype=np.float32)
        if self._text is None:
            self._tokenizer = _tokenizer(self.source, self.name)
            self._text = _text_tower(self.source, self.name).to(self.device)
        chunks = []
        with torch.inference_mode(), self._autocast():
            for i in range(0, len(prompts), batch_size):
                tokens = self._tokenizer(prompts[i : i + batch_size]).to(self.device)
                chunks.append(F.normalize(self._text(tokens).float(), dim=-1).cpu())
        return torch.cat(chunks).numpy()


def load_biomedclip(
    name: str = "biomedclip",
    weights: str | None = None,
    device: str = "auto",
    layers: Sequence[int] | str | None = None,
    pretrained: bool = True,
) -> BiomedCLIPBackbone:
    """BiomedCLIP's image tower; ``weights=None`` takes :data:`DEFAULT_HUB_ID` from the hub.

    Parameters
    ----------
    weights : str, optional
        A hub id (``hf-hub:org/repo`` or ``org/repo``) in open_clip's layout; a local
        directory holding ``open_clip_config.json`` and a checkpoint (e.g. from
        ``hf download microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224
        --local-dir DIR``); or a checkpoint file alone (``.bin``, ``.pth``,
        ``.safetensors``), read with the config next to it or else BiomedCLIP's. Ignored
        when ``pretrained=False``.
    pretrained : bool
        False builds BiomedCLIP's architecture with random weights (a control), no network.

    Raises
    ------
    WeightsUnavailableError
        The hub is unreachable (the message says how to pass a local copy) or the path
        lacks a config or checkpoint.
    BackboneError
        The checkpoint holds pickled Python objects or does not fit the config.
    """
    open_clip = require("open_clip", "open_clip_torch", name)
    if pretrained:
        source = _resolve(weights, name)
    else:
        source = BiomedCLIPSource(copy.deepcopy(BIOMEDCLIP_CONFIG))
    state = None  # the image tower's part only: the text tower is read when first used
    if source.checkpoint is not None:
        state = _tower_state(load_state_dict(source.checkpoint), "visual.", source.checkpoint)
    try:
        visual = _build_visual(open_clip, source.model_cfg, empty=state is not None)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise BackboneError(
            f"{name}: cannot build the image tower from its config ({exc})"
        ) from exc
    if state is not None and source.checkpoint is not None:  # both or neither
        load_strict(visual, state, source.checkpoint)
    tower: Any = visual  # open_clip's image tower is untyped
    depth = len(tower.trunk.blocks) if hasattr(tower, "trunk") else 0
    return BiomedCLIPBackbone(visual, source, parse_layers(layers, depth, name), device, name)


def _build_visual(open_clip: Any, cfg: dict[str, Any], empty: bool) -> torch.nn.Module:
    """open_clip's image tower; ``empty`` skips the random init when weights follow.

    Initialising ViT-B/16 costs seconds on a CPU; built on the meta device and then
    allocated empty, it costs a fraction of that. Every parameter and persistent buffer is
    then overwritten by the strict load; a tower with non-persistent buffers (which the
    load would not fill) is built the ordinary way.
    """
    args = (
        int(cfg["embed_dim"]),
        {**cfg["vision_cfg"], "timm_model_pretrained": False},  # never fetch ImageNet weights
        bool(cfg.get("quick_gelu", False)),
    )
    build = open_clip.model._build_vision_tower
    if empty:
        try:
            with torch.device("meta"):
                visual = build(*args)
        except (RuntimeError, NotImplementedError):  # init code that needs real tensors
            visual = None
        if visual is not None:
            persistent = visual.state_dict()
            if all(key in persistent for key, _ in visual.named_buffers()):
                return visual.to_empty(device="cpu")
    return build(*args)


def _resolve(weights: str | None, name: str) -> BiomedCLIPSource:
    path = local_weights(weights)
    if path is None:
        return _from_hub(weights or DEFAULT_HUB_ID, name)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise WeightsUnavailableError(
                f"{path}: no {CONFIG_NAME} in this directory; expected a copy of the hub "
                f"repository ({CONFIG_NAME} and {' or '.join(CHECKPOINT_NAMES[1:3])})"
            )
        checkpoint = next((path / n for n in CHECKPOINT_NAMES if (path / n).is_file()), None)
        if checkpoint is None:
            raise WeightsUnavailableError(
                f"{path}: no checkpoint in this directory; expected one of {list(CHECKPOINT_NAMES)}"
            )
        return BiomedCLIPSource(_read_config(path / CONFIG_NAME), checkpoint, path)
    sibling = path.parent / CONFIG_NAME
    config = _read_config(sibling) if sibling.is_file() else copy.deepcopy(BIOMEDCLIP_CONFIG)
    return BiomedCLIPSource(config, path, path.parent)


def _from_hub(hub_id: str, name: str) -> BiomedCLIPSource:
    from huggingface_hub import hf_hub_download
    from open_clip.pretrained import download_pretrained_from_hf

    repo = hub_id.removeprefix("hf-hub:")
    try:
        config_path = Path(hf_hub_download(repo, CONFIG_NAME))
        checkpoint = Path(download_pretrained_from_hf(repo))
    except (OSError, ValueError) as exc:  # offline, unreachable, unknown or malformed repo
        raise hub_unavailable(name, f"hf-hub:{repo}", exc) from exc
    return BiomedCLIPSource(_read_config(config_path), checkpoint, config_path.parent)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackboneError(f"{path}: not a readable open_clip config ({exc})") from exc
    if not isinstance(config, dict):
        raise BackboneError(f"{path}: an open_clip config must be a JSON object")
    model_cfg = config.get("model_cfg", config)
    if not all(k in model_cfg for k in ("embed_dim", "vision_cfg", "text_cfg")):
        raise BackboneError(
            f"{path}: model_cfg needs embed_dim, vision_cfg and text_cfg, has {sorted(model_cfg)}"
        )
    return {"model_cfg": model_cfg, "preprocess_cfg": config.get("preprocess_cfg", {})}


def _tower_state(
    state: dict[str, torch.Tensor], prefix: str, path: Path
) -> dict[str, torch.Tensor]:
    tower = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if not tower:
        raise BackboneError(
            f"{path}: no {prefix}* weights; expected a full open_clip checkpoint "
            f"(keys like {prefix}..., got e.g. {sorted(state)[:3]})"
        )
    return tower


def _preprocessing(config: dict[str, Any], name: str) -> Preprocessing:
    """open_clip's eval transform in fmood's terms (see the module docstring on bicubic)."""
    size = config["model_cfg"]["vision_cfg"].get("image_size", 224)
    if isinstance(size, (list, tuple)):
        if len(set(size)) != 1:
            raise BackboneError(f"{name}: non-square image_size {size} is not supported")
        size = size[0]
    pre = config.get("preprocess_cfg", {})
    modes = {"shortest": "crop", "squash": "squash"}
    mode = pre.get("resize_mode", "shortest")
    if mode not in modes:
        raise BackboneError(f"{name}: open_clip resize_mode {mode!r} is not supported")
    return Preprocessing(
        int(size),
        resize=modes[mode],
        crop_fraction=1.0,
        mean=tuple(float(v) for v in pre.get("mean", CLIP_MEAN)),
        std=tuple(float(v) for v in pre.get("std", CLIP_STD)),
        interpolation="bicubic" if pre.get("interpolation", "bicubic") == "bicubic" else "bilinear",
    )


def _text_tower(source: BiomedCLIPSource, name: str) -> torch.nn.Module:
    import open_clip

    cfg = source.model_cfg
    text_cfg = dict(cfg["text_cfg"])
    state = None
    if source.checkpoint is not None:
        checkpoint_state = load_state_dict(source.checkpoint)
        if "positional_embedding" in checkpoint_state:  # open_clip's CLIP (not CustomTextCLIP)
            checkpoint_state = open_clip.model.convert_to_custom_text_state_dict(checkpoint_state)
        state = _tower_state(checkpoint_state, "text.", source.checkpoint)
    if text_cfg.get("hf_model_name"):
        tower = _hf_text_tower(int(cfg["embed_dim"]), text_cfg, state, name)
    else:
        tower = open_clip.model._build_text_tower(
            int(cfg["embed_dim"]), text_cfg, bool(cfg.get("quick_gelu", False))
        )
    if state is not None and source.checkpoint is not None:  # both or neither
        own = tower.state_dict()
        # Older transformers saved BERT's position_ids buffer; newer ones do not keep it.
        state = {k: v for k, v in state.items() if k in own or not k.endswith("position_ids")}
        load_strict(tower, state, source.checkpoint)
    return tower.eval().requires_grad_(False)


def _hf_text_tower(
    embed_dim: int, text_cfg: dict[str, Any], state: dict[str, torch.Tensor] | None, name: str
) -> torch.nn.Module:
    """open_clip's HFTextEncoder, with a config that needs no network when it can.

    The checkpoint holds the text weights but not the transformer's config, which
    open_clip fetches from the hub by ``hf_model_name``. Tried in order: a local path or the
    Hugging Face cache, the BERT shapes in the checkpoint, then the hub.
    """
    require("transformers", "transformers", name)
    from open_clip.hf_model import HFTextEncoder
    from transformers import AutoConfig

    model_name = text_cfg["hf_model_name"]
    try:
        config = AutoConfig.from_pretrained(model_name, local_files_only=True)
    except OSError:
        config = _bert_config(state) if state is not None else None
    if config is None:
        try:
            config = AutoConfig.from_pretrained(model_name)
        except OSError as exc:
            raise WeightsUnavailableError(
                f"{name}: the text tower's config {model_name!r} is neither in the Hugging Face "
                f"cache nor reachable on the hub, and no BERT weights to read it from "
                f"({str(exc).splitlines()[0]}); load BiomedCLIP from a local copy "
                f"(--weights DIR) to use the text tower offline"
            ) from exc
    pooler_type = text_cfg.get("hf_pooler_type")
    tower = HFTextEncoder(
        model_name,
        output_dim=embed_dim,
        config=config,
        pooler_type=pooler_type,
        proj_type=text_cfg.get("hf_proj_type"),
        pretrained=False,
    )
    # open_clip builds BERT without its pooling layer unless it pools with it; so do we.
    if pooler_type != "cls_pooler" and getattr(tower.transformer, "pooler", None) is not None:
        tower.transformer.pooler = None
    return tower


def _bert_config(state: dict[str, torch.Tensor]) -> Any:
    """A BertConfig read off BERT weights' shapes, or None when they are not BERT's.

    Every size but the number of attention heads is in the shapes; heads are taken as
    width / 64, the convention of every BERT release (PubMedBERT: 768 / 64 = 12).
    """
    from transformers import BertConfig

    prefix = "transformer.embeddings."
    keys = ("word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight")
    if not all(prefix + k in state for k in keys):
        return None
    words, positions, types = (state[prefix + k] for k in keys)
    blocks = {
        m.group(1) for k in state if (m := re.match(r"transformer\.encoder\.layer\.(\d+)\.", k))
    }
    intermediate = state.get("transformer.encoder.layer.0.intermediate.dense.weight")
    if not blocks or intermediate is None:
        return None
    hidden = int(words.shape[1])
    return BertConfig(
        vocab_size=int(words.shape[0]),
        hidden_size=hidden,
        num_hidden_layers=len(blocks),
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=int(intermediate.shape[0]),
        max_position_embeddings=int(positions.shape[0]),
        type_vocab_size=int(types.shape[0]),
    )


def _tokenizer(source: BiomedCLIPSource, name: str) -> Any:
    """open_clip's tokenizer for the config: from the model directory's files if present."""
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer

    text_cfg = source.model_cfg["text_cfg"]
    context_length = text_cfg.get("context_length", 77)
    kwargs = dict(text_cfg.get("tokenizer_kwargs", {}))
    hf_name = text_cfg.get("hf_tokenizer_name")
    if not hf_name:
        return SimpleTokenizer(context_length=context_length, **kwargs)
    folder = source.directory
    local = folder is not None and any((folder / f).is_file() for f in _TOKENIZER_FILES)
    tokenizer_source = str(folder) if local else hf_name
    try:
        return HFTokenizer(
            tokenizer_source,
            context_length=context_length,
            tokenizer_mode=text_cfg.get("tokenizer_mode"),
            **kwargs,
        )
    except OSError as exc:
        raise WeightsUnavailableError(
            f"{name}: tokenizer {tokenizer_source!r} not found locally nor on the hub "
            f"({str(exc).splitlines()[0]}); put its files (tokenizer.json, vocab.txt, ...) in "
            f"the model directory passed as --weights"
        ) from exc
