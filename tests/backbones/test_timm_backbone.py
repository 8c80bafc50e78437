"""timm backbones offline, on timm's own tiny test models (160 px, a few 100k parameters)."""

import argparse
import json

import numpy as np
import pytest
import torch

from fmood import backbones
from fmood.backbones.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from fmood.backbones.timm_backbone import TimmBackbone
from fmood.errors import BackboneError, InvalidInputError, WeightsUnavailableError

timm = pytest.importorskip("timm")
hub_constants = pytest.importorskip("huggingface_hub.constants")
safetensors_torch = pytest.importorskip("safetensors.torch")

#: test_resnet.r160_in1k's pretrained config: 160 px, crop_pct 0.95, mean = std = 0.5.
TEST_RESNET_PREPROCESSING = Preprocessing(
    160, resize="crop", crop_fraction=0.95, mean=(0.5,) * 3, std=(0.5,) * 3
)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    """No hub: fail fast instead of retrying, and never find a developer's cached weights."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf")))


@pytest.fixture(scope="module")
def images():
    """Two small images, grey and RGB (the weights are random: content is moot)."""
    rng = np.random.default_rng(0)
    return [rng.random(shape, dtype=np.float32) for shape in [(200, 240), (256, 300, 3)]]


@pytest.fixture(scope="module")
def classifier():
    """A full test_resnet (with its 1000-class head) as a checkpoint would hold it."""
    torch.manual_seed(0)
    return timm.create_model("test_resnet", pretrained=False).eval()


def reference_features(net, batch):
    with torch.inference_mode():
        return net.forward_head(net.forward_features(batch), pre_logits=True).numpy()


def test_shape_dim_preprocessing_determinism(images):
    bb = backbones.load("timm:test_resnet", pretrained=False, device="cpu")
    assert bb.name == "timm:test_resnet" and bb.dim == 96
    assert bb.preprocessing == TEST_RESNET_PREPROCESSING
    out = bb.embed(images)
    assert out.shape == (2, 96) and out.dtype == np.float32
    np.testing.assert_array_equal(out, bb.embed(images))


def test_pre_logits_width_and_imagenet_preprocessing(images):
    """mobilenetv3's pre-logits layer widens 288 pooled channels to 1024."""
    bb = backbones.load("timm:mobilenetv3_small_050", pretrained=False, device="cpu")
    assert bb.dim == 1024 and bb.embed(images[:1]).shape == (1, 1024)
    assert bb.preprocessing == Preprocessing(
        224,
        resize="crop",
        crop_fraction=0.875,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        interpolation="bicubic",
    )


def test_local_safetensors_and_pth_load_the_same_weights(tmp_path, images, classifier):
    state = classifier.state_dict()
    safetensors_torch.save_file(state, tmp_path / "r.safetensors")
    torch.save(state, tmp_path / "r.pth")
    a = backbones.load("timm:test_resnet", weights=str(tmp_path / "r.safetensors"), device="cpu")
    b = backbones.load("timm:test_resnet", weights=str(tmp_path / "r.pth"), device="cpu")
    assert a.fingerprint == b.fingerprint
    out = a.embed(images)
    np.testing.assert_array_equal(out, b.embed(images))
    # The classifier's own pre-logits features on the same input: the checkpoint was used.
    batch = torch.stack([a.preprocess(im) for im in images])
    np.testing.assert_allclose(out, reference_features(classifier, batch), rtol=1e-5, atol=1e-6)
    random = backbones.load("timm:test_resnet", pretrained=False, device="cpu")
    assert random.fingerprint.weights_sha256 != a.fingerprint.weights_sha256


def test_hub_repository_copy_with_config(tmp_path, images, classifier):
    """A copy of timm's hub repo: model.safetensors and config.json, whose cfg preprocesses."""
    safetensors_torch.save_file(classifier.state_dict(), tmp_path / "model.safetensors")
    config = {
        "architecture": "test_resnet",
        "num_classes": 1000,
        "pretrained_cfg": {
            "input_size": [3, 128, 128],
            "crop_pct": 0.875,
            "mean": [0.4, 0.4, 0.4],
            "std": [0.25, 0.25, 0.25],
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    bb = backbones.load("timm:test_resnet", weights=str(tmp_path), device="cpu")
    assert bb.preprocessing == Preprocessing(
        128, resize="crop", crop_fraction=0.875, mean=(0.4,) * 3, std=(0.25,) * 3
    )
    batch = bb.preprocess(images[0])[None]
    np.testing.assert_allclose(
        bb.embed(images[:1]), reference_features(classifier, batch), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(BackboneError, match="weights for timm's 'test_resnet', not 'resnet18'"):
        backbones.load("timm:resnet18", weights=str(tmp_path), device="cpu")


def test_refuses_pickled_objects_and_weights_that_do_not_fit(tmp_path, classifier):
    path = tmp_path / "with_args.pth"
    torch.save({"state_dict": classifier.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(BackboneError, match="weights_only"):
        backbones.load("timm:test_resnet", weights=str(path), device="cpu")
    safetensors_torch.save_file(classifier.state_dict(), tmp_path / "r.safetensors")
    for other in ("test_efficientnet", "resnet18"):  # other names; same names, other shapes
        with pytest.raises(BackboneError, match="do not fit"):
            backbones.load(f"timm:{other}", weights=str(tmp_path / "r.safetensors"), device="cpu")
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BackboneError, match="safetensors"):
        backbones.load("timm:test_resnet", weights=str(tmp_path / "broken.safetensors"))


def test_unknown_model_or_tag_lists_close_names():
    with pytest.raises(BackboneError, match="close matches: resnet18"):
        backbones.load("timm:resnet181")
    with pytest.raises(BackboneError, match="resnet18.a1_in1k"):
        backbones.load("timm:resnet18.bogus")


def test_weights_not_found_or_a_hub_id():
    with pytest.raises(WeightsUnavailableError, match="not found"):
        backbones.load("timm:test_resnet", weights="./missing.safetensors")
    with pytest.raises(BackboneError, match=r"timm:test_resnet\.<tag>"):
        backbones.load("timm:test_resnet", weights="timm/test_resnet.r160_in1k")


def test_download_without_network_says_how_to_pass_a_copy():
    with pytest.raises(WeightsUnavailableError) as info:
        backbones.load("timm:test_resnet", device="cpu")
    message = str(info.value)
    assert "timm/test_resnet.r160_in1k" in message and "--weights DIR" in message


def test_layers_add_pooled_intermediate_features(images):
    torch.manual_seed(1)
    plain = backbones.load("timm:test_vit", pretrained=False, device="cpu")
    layered = TimmBackbone(plain.module, "test_vit", layers=(6, 2), device="cpu")
    assert layered.dim == 3 * 64 and layered.layers == (2, 6)
    assert layered.blocks == (("layer2", 64), ("layer6", 64), ("final", 64))
    assert plain.blocks == (("final", 64),)
    out = layered.embed(images)
    final = plain.embed(images)
    np.testing.assert_allclose(
        out[:, -64:], final / np.linalg.norm(final, axis=1, keepdims=True), rtol=1e-4, atol=1e-6
    )
    # Block 2's output averaged over the patch tokens (the class token left out).
    vit = plain.module
    batch = torch.stack([plain.preprocess(im) for im in images])
    with torch.inference_mode():
        tokens = vit.blocks[:2](vit.norm_pre(vit._pos_embed(vit.patch_embed(batch))))
        block2 = tokens[:, vit.num_prefix_tokens :].mean(dim=1)
    block2 = torch.nn.functional.normalize(block2, dim=1).numpy()
    np.testing.assert_allclose(out[:, :64], block2, rtol=1e-4, atol=1e-5)
    assert layered.fingerprint.weights_sha256 == plain.fingerprint.weights_sha256
    assert layered.fingerprint.preprocessing.endswith("layers=2,6")
    assert layered.fingerprint != plain.fingerprint
    resnet = backbones.load("timm:test_resnet", pretrained=False, device="cpu", layers="2,5")
    assert resnet.dim == 32 + 96 + 96 and resnet.embed(images[:1]).shape == (1, resnet.dim)
    assert resnet.blocks == (("layer2", 32), ("layer5", 96), ("final", 96))
    with pytest.raises(InvalidInputError, match="1..6"):
        backbones.load("timm:test_vit", pretrained=False, layers=[7])
