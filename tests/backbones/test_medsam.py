"""MedSAM's image encoder: segment_anything checkpoints mapped into transformers' SAM.

A full ViT-B forward at 1024 px takes ~15 s on 2 CPU cores, so the loading tests use a
tiny encoder of the same family (monkeypatched ``ENCODER_CONFIG``); the ViT-B key mapping
itself is checked on the meta device, where building costs nothing.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from fmood.backbones import load
from fmood.errors import BackboneError, InvalidInputError, WeightsUnavailableError

transformers = pytest.importorskip("transformers")
medsam = pytest.importorskip("fmood.backbones.medsam")

#: Same family as ViT-B (windowed + global attention, relative positions, 256-d neck), tiny.
TINY = {
    **medsam.ENCODER_CONFIG,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "mlp_dim": 64,
    "global_attn_indexes": [1],
    "window_size": 2,
    "image_size": 64,
}
VIT_B = dict(medsam.ENCODER_CONFIG)


def sam_encoder_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Tensor shapes of segment_anything's ``ImageEncoderViT``, written out from its source."""
    hidden, mlp, out = config["hidden_size"], config["mlp_dim"], config["output_channels"]
    patch, grid = config["patch_size"], config["image_size"] // config["patch_size"]
    head = hidden // config["num_attention_heads"]
    shapes = {
        "pos_embed": (1, grid, grid, hidden),
        "patch_embed.proj.weight": (hidden, 3, patch, patch),
        "patch_embed.proj.bias": (hidden,),
    }
    for i in range(config["num_hidden_layers"]):
        span = grid if i in config["global_attn_indexes"] else config["window_size"]
        shapes |= {
            f"blocks.{i}.norm1.weight": (hidden,),
            f"blocks.{i}.norm1.bias": (hidden,),
            f"blocks.{i}.attn.qkv.weight": (3 * hidden, hidden),
            f"blocks.{i}.attn.qkv.bias": (3 * hidden,),
            f"blocks.{i}.attn.proj.weight": (hidden, hidden),
            f"blocks.{i}.attn.proj.bias": (hidden,),
            f"blocks.{i}.attn.rel_pos_h": (2 * span - 1, head),
            f"blocks.{i}.attn.rel_pos_w": (2 * span - 1, head),
            f"blocks.{i}.norm2.weight": (hidden,),
            f"blocks.{i}.norm2.bias": (hidden,),
            f"blocks.{i}.mlp.lin1.weight": (mlp, hidden),
            f"blocks.{i}.mlp.lin1.bias": (mlp,),
            f"blocks.{i}.mlp.lin2.weight": (hidden, mlp),
            f"blocks.{i}.mlp.lin2.bias": (hidden,),
        }
    return shapes | {
        "neck.0.weight": (out, hidden, 1, 1),
        "neck.1.weight": (out,),
        "neck.1.bias": (out,),
        "neck.2.weight": (out, out, 3, 3),
        "neck.3.weight": (out,),
        "neck.3.bias": (out,),
    }


def sam_checkpoint(config: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A whole-``Sam`` state dict as medsam_vit_b.pth has it, with random values."""
    generator = torch.Generator().manual_seed(seed)
    state = {
        f"image_encoder.{k}": 0.1 * torch.randn(shape, generator=generator)
        for k, shape in sam_encoder_shapes(config).items()
    }
    state["prompt_encoder.point_embeddings.0.weight"] = torch.randn(1, 256, generator=generator)
    state["mask_decoder.iou_token.weight"] = torch.randn(1, 256, generator=generator)
    return state


#: segment_anything name -> transformers name, written out independently of the code.
EXPECTED_PAIRS = [
    ("image_encoder.pos_embed", "vision_encoder.pos_embed"),
    ("image_encoder.patch_embed.proj.weight", "vision_encoder.patch_embed.projection.weight"),
    ("image_encoder.blocks.0.norm1.weight", "vision_encoder.layers.0.layer_norm1.weight"),
    ("image_encoder.blocks.0.attn.rel_pos_h", "vision_encoder.layers.0.attn.rel_pos_h"),
    ("image_encoder.blocks.1.attn.qkv.weight", "vision_encoder.layers.1.attn.qkv.weight"),
    ("image_encoder.blocks.1.attn.proj.bias", "vision_encoder.layers.1.attn.proj.bias"),
    ("image_encoder.blocks.1.norm2.bias", "vision_encoder.layers.1.layer_norm2.bias"),
    ("image_encoder.blocks.1.mlp.lin2.weight", "vision_encoder.layers.1.mlp.lin2.weight"),
    ("image_encoder.neck.0.weight", "vision_encoder.neck.conv1.weight"),
    ("image_encoder.neck.1.bias", "vision_encoder.neck.layer_norm1.bias"),
    ("image_encoder.neck.2.weight", "vision_encoder.neck.conv2.weight"),
    ("image_encoder.neck.3.weight", "vision_encoder.neck.layer_norm2.weight"),
]


@pytest.fixture(autouse=True)
def tiny_encoder(monkeypatch):
    monkeypatch.setattr(medsam, "ENCODER_CONFIG", TINY)


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    state = sam_checkpoint(TINY)
    path = tmp_path / "medsam_vit_b.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((80, 50), dtype=np.float32), 100 * rng.random((64, 64, 3), dtype=np.float32)]


def test_medsam_checkpoint_loads_into_the_encoder(checkpoint, images):
    path, state = checkpoint
    backbone = load("medsam", weights=str(path), device="cpu")
    loaded = backbone.module.state_dict()
    for sam_key, hf_key in EXPECTED_PAIRS:
        torch.testing.assert_close(loaded[hf_key], state[sam_key], rtol=0, atol=0)
    encoder = {k: v for k, v in state.items() if k.startswith("image_encoder.")}
    assert len(loaded) == len(encoder)
    assert sum(float(v.double().sum()) for v in loaded.values()) == pytest.approx(
        sum(float(v.double().sum()) for v in encoder.values()), rel=1e-9
    )
    out = backbone.embed(images)
    assert backbone.dim == 256
    assert out.shape == (2, 256) and out.dtype == np.float32 and np.isfinite(out).all()
    assert backbone.fingerprint.name == "medsam"
    assert backbone.fingerprint.preprocessing == "size=64;resize=squash;mean=0,0,0;std=1,1,1;minmax"


def test_features_are_the_pooled_neck_output(checkpoint):
    backbone = load("medsam", weights=str(checkpoint[0]), device="cpu")
    batch = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        neck = backbone.module(pixel_values=batch).last_hidden_state
    assert neck.shape == (2, 256, 4, 4)
    want = neck.mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(backbone.embed_batch(batch), want, atol=1e-6)


def test_vit_b_checkpoint_keys_map_onto_samvisionmodel():
    sam = {
        f"image_encoder.{k}": torch.empty(shape, device="meta")
        for k, shape in sam_encoder_shapes(VIT_B).items()
    }
    sam["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"] = torch.empty(2, 128)
    config = transformers.SamVisionConfig(**VIT_B)
    with torch.device("meta"):
        model = transformers.SamVisionModel(config)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in medsam.encoder_state(sam).items()}
    assert got == want
    assert sum(int(np.prod(s)) for s in want.values()) == 89_670_912  # SAM ViT-B image encoder


def test_encoder_matches_segment_anything(tmp_path):
    modeling = pytest.importorskip("segment_anything.modeling")

    def encoder(config):  # as segment_anything.build_sam builds it
        return modeling.ImageEncoderViT(
            img_size=config["image_size"],
            patch_size=config["patch_size"],
            embed_dim=config["hidden_size"],
            depth=config["num_hidden_layers"],
            num_heads=config["num_attention_heads"],
            mlp_ratio=config["mlp_dim"] / config["hidden_size"],
            out_chans=config["output_channels"],
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            global_attn_indexes=config["global_attn_indexes"],
            window_size=config["window_size"],
        )

    with torch.device("meta"):  # the shapes written out above are segment_anything's
        vit_b = encoder(VIT_B)
    assert {k: tuple(v.shape) for k, v in vit_b.state_dict().items()} == sam_encoder_shapes(VIT_B)

    torch.manual_seed(3)
    reference = encoder(TINY).eval()
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.normal_(0, 0.1)
    state = {f"image_encoder.{k}": v for k, v in reference.state_dict().items()}
    torch.save(state, tmp_path / "medsam_vit_b.pth")
    backbone = load("medsam", weights=str(tmp_path / "medsam_vit_b.pth"), device="cpu")
    batch = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        want = reference(batch).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(backbone.embed_batch(batch), want, rtol=1e-4, atol=1e-5)


def test_every_checkpoint_layout_gives_the_same_weights(checkpoint, tmp_path):
    path, state = checkpoint
    sha = load("medsam", weights=str(path), device="cpu").weights_sha256
    prefix = "image_encoder."
    encoder = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    hf_model = transformers.SamVisionModel(transformers.SamVisionConfig(**TINY))
    medsam.load_strict(hf_model, medsam.encoder_state(state), path)

    layouts = {
        "bare_image_encoder.pth": encoder,
        "data_parallel.pth": {f"module.{k}": v for k, v in state.items()},
        "training.pth": {"model": state, "epoch": torch.tensor(3)},
        "samvisionmodel.pth": hf_model.state_dict(),
        "samvisionencoder.pth": hf_model.vision_encoder.state_dict(),
    }
    for name, saved in layouts.items():
        torch.save(saved, tmp_path / name)
    hf_model.save_pretrained(tmp_path / "samvisionmodel")
    sam_model = transformers.SamModel(transformers.SamConfig(vision_config=TINY))
    sam_model.vision_encoder.load_state_dict(hf_model.vision_encoder.state_dict())
    sam_model.save_pretrained(tmp_path / "sammodel")
    sources = [*layouts, "samvisionmodel", "sammodel", "samvisionmodel/model.safetensors"]
    for source in sources:
        loaded = load("medsam", weights=str(tmp_path / source), device="cpu")
        assert loaded.weights_sha256 == sha, source


def test_fingerprint_is_stable_and_tracks_weights(checkpoint, tmp_path, images):
    path, _ = checkpoint
    first = load("medsam", weights=str(path), device="cpu")
    second = load("medsam", weights=str(path), device="cpu")
    assert first.fingerprint == second.fingerprint
    np.testing.assert_array_equal(first.embed(images), first.embed(images))
    np.testing.assert_array_equal(first.embed(images), second.embed(images))
    torch.save(sam_checkpoint(TINY, seed=1), tmp_path / "other.pth")
    other = load("medsam", weights=str(tmp_path / "other.pth"), device="cpu")
    assert other.fingerprint.weights_sha256 != first.fingerprint.weights_sha256
    assert other.fingerprint.preprocessing == first.fingerprint.preprocessing


def test_no_weights_says_where_to_get_medsam_vit_b():
    with pytest.raises(WeightsUnavailableError) as info:
        load("medsam", device="cpu")
    message = str(info.value)
    for part in ("medsam_vit_b.pth", "bowang-lab/MedSAM", "Google Drive", "--weights"):
        assert part in message
    with pytest.raises(WeightsUnavailableError, match="--weights"):
        load("medsam", weights="wanglab/medsam-vit-base", device="cpu")


def test_missing_or_empty_paths_are_refused(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load("medsam", weights=str(tmp_path / "medsam_vit_b.pth"), device="cpu")
    with pytest.raises(WeightsUnavailableError, match="no model.safetensors"):
        load("medsam", weights=str(tmp_path), device="cpu")


def test_pickled_python_objects_are_refused(tmp_path):
    path = tmp_path / "medsam_vit_b.pth"
    torch.save({"model": sam_checkpoint(TINY), "args": argparse.Namespace(lr=1e-4)}, path)
    with pytest.raises(BackboneError, match="weights_only") as info:
        load("medsam", weights=str(path), device="cpu")
    assert str(path) in str(info.value)


def test_weights_of_another_architecture_are_refused(tmp_path):
    wider = sam_checkpoint({**TINY, "hidden_size": 48, "num_attention_heads": 4, "mlp_dim": 96})
    torch.save(wider, tmp_path / "wider.pth")
    with pytest.raises(BackboneError, match="wrong shape") as info:
        load("medsam", weights=str(tmp_path / "wider.pth"), device="cpu")
    assert "wider.pth" in str(info.value)
    no_neck = {k: v for k, v in sam_checkpoint(TINY).items() if ".neck." not in k}
    torch.save(no_neck, tmp_path / "no_neck.pth")
    with pytest.raises(BackboneError, match="6 missing"):
        load("medsam", weights=str(tmp_path / "no_neck.pth"), device="cpu")


def test_random_control_is_reproducible_and_takes_no_weights(checkpoint):
    first = load("medsam", pretrained=False, device="cpu")
    second = load("medsam", pretrained=False, device="cpu")
    assert first.weights_sha256 == second.weights_sha256
    assert first.weights_sha256 != load("medsam", weights=str(checkpoint[0])).weights_sha256
    with pytest.raises(InvalidInputError, match="pretrained=False"):
        load("medsam", pretrained=False, weights=str(checkpoint[0]))


def test_defaults_are_medsams_vit_b_and_preprocessing():
    assert medsam.PREPROCESSING.describe() == "size=1024;resize=squash;mean=0,0,0;std=1,1,1;minmax"
    assert {k: VIT_B[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads")} == {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
    }
    assert VIT_B["global_attn_indexes"] == [2, 5, 8, 11]
    assert (VIT_B["window_size"], VIT_B["patch_size"], VIT_B["image_size"]) == (14, 16, 1024)
    assert (VIT_B["output_channels"], VIT_B["mlp_dim"]) == (256, 3072)
