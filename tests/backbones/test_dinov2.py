"""DINOv2 through transformers: pooling, layers, fingerprints and offline weights handling.

Everything runs offline on the real dinov2-small architecture with random weights; the
hub is only ever asked in offline mode, where it must fail fast with a usable message.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from fmood.backbones import load
from fmood.errors import BackboneError, InvalidInputError, WeightsUnavailableError

transformers = pytest.importorskip("transformers")
dinov2 = pytest.importorskip("fmood.backbones.dinov2")

SMALL_HIDDEN = 384


@pytest.fixture(scope="module")
def control() -> dinov2.Dinov2Backbone:
    """dinov2-small with random weights (the seeded control), built once for the module."""
    return load("dinov2-small", pretrained=False, device="cpu")


@pytest.fixture(scope="module")
def small_model(control: dinov2.Dinov2Backbone) -> torch.nn.Module:
    """The control's model, shared by the backbones built around it."""
    return control.module


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        rng.random((300, 260), dtype=np.float32),  # grey, not square
        rng.random((256, 400, 3), dtype=np.float32),
    ]


@pytest.fixture(scope="module")
def batch(control: dinov2.Dinov2Backbone, images: list[np.ndarray]) -> torch.Tensor:
    """One preprocessed image: every ViT forward costs ~0.15 s per image on 2 CPU cores."""
    return control.preprocess(images[0])[None]


@pytest.fixture(scope="module")
def reference(small_model: torch.nn.Module, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """The model's own outputs, read without the adapter."""
    with torch.no_grad():
        out = small_model(pixel_values=batch, output_hidden_states=True)
    return {"last": out.last_hidden_state, "hidden": out.hidden_states}


def _backbone(model: torch.nn.Module, pooling: str = "cls", layers=()) -> dinov2.Dinov2Backbone:
    return dinov2.Dinov2Backbone("dinov2-small", model, pooling, tuple(layers), "cpu")


def test_pooling_reads_the_final_layernormed_tokens(small_model, batch, reference):
    tokens = reference["last"]
    cls, mean = tokens[:, 0], tokens[:, 1:].mean(dim=1)  # 256 patch tokens after the CLS
    assert tokens.shape[1] == 1 + (224 // 14) ** 2
    expected = {"cls": cls, "mean": mean, "cls+mean": torch.cat([cls, mean], dim=1)}
    for pooling, want in expected.items():
        backbone = _backbone(small_model, pooling)
        got = backbone.embed_batch(batch)
        assert backbone.dim == want.shape[1] == (1 + (pooling == "cls+mean")) * SMALL_HIDDEN
        assert got.shape == (len(batch), backbone.dim) and got.dtype == np.float32
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


def test_layers_add_unit_normed_intermediate_blocks(small_model, batch, reference):
    backbone = _backbone(small_model, "cls", (4, 8))
    got = backbone.embed_batch(batch)
    assert backbone.dim == 3 * SMALL_HIDDEN
    norm = small_model.layernorm
    with torch.no_grad():
        parts = [norm(reference["hidden"][i])[:, 0] for i in (4, 8)] + [reference["last"][:, 0]]
    want = torch.cat([torch.nn.functional.normalize(p, dim=1) for p in parts], dim=1)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)
    blocks = got.reshape(len(got), 3, SMALL_HIDDEN)
    np.testing.assert_allclose(np.linalg.norm(blocks, axis=2), 1.0, rtol=1e-5)
    assert backbone.blocks == (
        ("block4", SMALL_HIDDEN),
        ("block8", SMALL_HIDDEN),
        ("final", SMALL_HIDDEN),
    )


def test_blocks_follow_the_order_of_layers(small_model, batch, reference):
    """DINOv2 takes layers in the order given; so do its blocks (cls+mean: 2 x hidden each)."""
    backbone = _backbone(small_model, "cls+mean", (8, 4))
    wide = 2 * SMALL_HIDDEN
    assert backbone.blocks == (("block8", wide), ("block4", wide), ("final", wide))
    got = backbone.embed_batch(batch)
    tokens = small_model.layernorm(reference["hidden"][4])
    with torch.no_grad():
        block4 = torch.cat([tokens[:, 0], tokens[:, 1:].mean(dim=1)], dim=1)
    want = torch.nn.functional.normalize(block4, dim=1).numpy()
    np.testing.assert_allclose(got[:, wide : 2 * wide], want, rtol=1e-4, atol=1e-5)
    assert _backbone(small_model).blocks == (("final", SMALL_HIDDEN),)


def test_layers_with_cls_mean_pooling_have_two_hidden_per_layer(small_model, batch):
    backbone = _backbone(small_model, "cls+mean", (1, 12))
    assert backbone.dim == 3 * 2 * SMALL_HIDDEN
    assert backbone.embed_batch(batch).shape == (len(batch), 3 * 2 * SMALL_HIDDEN)


def test_load_passes_options_and_the_control_is_reproducible(control):
    again = load("dinov2-small", pretrained=False, device="cpu", pooling="cls+mean", layers="4,-1")
    assert (again.pooling, again.layers, again.dim) == ("cls+mean", (4, 12), 3 * 2 * SMALL_HIDDEN)
    assert again.fingerprint.weights_sha256 == control.fingerprint.weights_sha256
    assert again.fingerprint.name == "dinov2-small"


def test_layers_out_of_range_fail_before_building():
    with pytest.raises(InvalidInputError, match="1..12"):
        load("dinov2-small", pretrained=False, device="cpu", layers=[13])
    with pytest.raises(InvalidInputError, match="1..40"):
        load("dinov2-giant", pretrained=False, device="cpu", layers=[41])


def test_same_input_gives_identical_vectors(small_model, batch):
    backbone = _backbone(small_model, "cls+mean", (6,))
    np.testing.assert_array_equal(backbone.embed_batch(batch), backbone.embed_batch(batch))


def test_preprocessing_is_dinov2s_resize_256_crop_224(small_model):
    backbone = _backbone(small_model)
    assert backbone.preprocessing.describe() == (
        "size=224;resize=crop;crop_fraction=0.875;mean=0.485,0.456,0.406;std=0.229,0.224,0.225;bicubic"
    )
    assert backbone.preprocess(np.zeros((512, 300), dtype=np.float32)).shape == (3, 224, 224)


def test_fingerprint_names_pooling_and_layers(small_model):
    fingerprints = {
        (pooling, layers): _backbone(small_model, pooling, layers).fingerprint
        for pooling in dinov2.POOLINGS
        for layers in [(), (4, 8)]
    }
    assert fingerprints["cls+mean", (4, 8)].preprocessing.endswith(";pooling=cls+mean;layers=4,8")
    assert fingerprints["cls", ()].preprocessing.endswith(";pooling=cls")
    assert len({f.preprocessing for f in fingerprints.values()}) == len(fingerprints)
    assert len({f.weights_sha256 for f in fingerprints.values()}) == 1


@pytest.fixture(scope="module")
def saved_small(small_model, tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    """dinov2-small with perturbed random weights, written by save_pretrained."""
    model = copy.deepcopy(small_model)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():  # away from the seeded control, so a silent re-init would show
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn(parameter.shape, generator=generator))
    directory = tmp_path_factory.mktemp("dinov2-small")
    model.save_pretrained(directory)
    return directory, model


def test_saved_directory_loads_offline_with_the_same_vectors_and_hash(saved_small, images):
    directory, model = saved_small
    in_memory = _backbone(model, "cls+mean", (6,))
    loaded = load(
        "dinov2-small", weights=str(directory), device="cpu", pooling="cls+mean", layers=[6]
    )
    assert loaded.fingerprint.weights_sha256 == in_memory.fingerprint.weights_sha256
    assert loaded.fingerprint == in_memory.fingerprint
    np.testing.assert_allclose(loaded.embed(images), in_memory.embed(images), rtol=1e-5, atol=1e-6)


def test_fingerprint_is_stable_across_loads_and_tracks_weights(saved_small, control):
    directory, _ = saved_small
    first = load("dinov2-small", weights=str(directory), device="cpu")
    second = load("dinov2-small", weights=str(directory), device="cpu")
    assert first.fingerprint == second.fingerprint
    assert first.fingerprint.weights_sha256 != control.fingerprint.weights_sha256
    assert first.fingerprint.preprocessing == control.fingerprint.preprocessing


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """The hub as without network: fail at once instead of retrying (~35 s), and never
    find a developer's cached weights."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))


def test_hub_id_without_network_says_how_to_pass_a_directory(offline):
    with pytest.raises(WeightsUnavailableError, match="--weights") as info:
        load("dinov2-small", weights="fmood-tests/no-such-dinov2", device="cpu")
    assert "fmood-tests/no-such-dinov2" in str(info.value)
    assert "--backbone dinov2-small" in str(info.value)


def test_default_weights_are_the_facebook_hub_model(offline):
    with pytest.raises(WeightsUnavailableError, match="facebook/dinov2-base"):
        load("dinov2-base", device="cpu")


def test_wrong_size_directory_names_it_and_the_right_name(tmp_path):
    transformers.Dinov2Config(hidden_size=768, num_hidden_layers=12).save_pretrained(tmp_path)
    with pytest.raises(BackboneError, match="dinov2-base: pass that name") as info:
        load("dinov2-small", weights=str(tmp_path), device="cpu")
    assert str(tmp_path) in str(info.value)
    assert "hidden_size 768" in str(info.value)


def test_directory_of_another_model_is_refused(tmp_path):
    transformers.ViTConfig(hidden_size=384, num_attention_heads=6).save_pretrained(tmp_path)
    with pytest.raises(BackboneError, match="not a DINOv2") as info:
        load("dinov2-small", weights=str(tmp_path), device="cpu")
    assert str(tmp_path) in str(info.value)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(BackboneError, match="save_pretrained") as info:
        load("dinov2-small", weights=str(tmp_path), device="cpu")
    assert str(tmp_path) in str(info.value)
    assert not isinstance(info.value, WeightsUnavailableError)


def test_directory_with_config_but_no_weights_is_refused(tmp_path):
    dinov2.dinov2_config("small", transformers).save_pretrained(tmp_path)
    with pytest.raises(BackboneError, match=str(tmp_path)):
        load("dinov2-small", weights=str(tmp_path), device="cpu")


def test_directory_missing_some_weights_is_refused(saved_small, tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    directory, model = saved_small
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("layernorm.")}
    safetensors.save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(BackboneError, match="2 missing") as info:
        load("dinov2-small", weights=str(tmp_path), device="cpu")
    assert str(tmp_path) in str(info.value)


def test_missing_local_path_and_weight_files_are_refused(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load("dinov2-small", weights=str(tmp_path / "nowhere"), device="cpu")
    checkpoint = tmp_path / "dinov2_vits14.pth"
    torch.save({"w": torch.zeros(1)}, checkpoint)
    with pytest.raises(BackboneError, match="directory written by save_pretrained"):
        load("dinov2-small", weights=str(checkpoint), device="cpu")


def test_bad_options_are_refused():
    with pytest.raises(InvalidInputError, match="pooling"):
        load("dinov2-small", pretrained=False, pooling="max")
    with pytest.raises(InvalidInputError, match="pretrained=False"):
        load("dinov2-small", pretrained=False, weights="facebook/dinov2-small")
    with pytest.raises(BackboneError, match="dinov2-small"):
        dinov2.load_dinov2("dinov2-tiny")


@pytest.mark.parametrize(
    ("size", "parameters"),
    # Parameter counts of the released facebook/dinov2-* checkpoints.
    [("small", 22_056_576), ("base", 86_580_480), ("large", 304_368_640), ("giant", 1_136_480_768)],
)
def test_configs_build_the_released_architectures(size, parameters):
    config = dinov2.dinov2_config(size, transformers)
    with torch.device("meta"):
        model = transformers.Dinov2Model(config)
    assert sum(p.numel() for p in model.parameters()) == parameters
    assert model.embeddings.position_embeddings.shape[1] == 1 + 37 * 37
    mlp = model.encoder.layer[0].mlp
    if size == "giant":  # SwiGLU, hidden 4096 as in the released ViT-g/14
        assert (mlp.gate_proj.out_features, mlp.up_proj.out_features) == (4096, 4096)
    else:
        assert mlp.fc1.out_features == 4 * config.hidden_size
