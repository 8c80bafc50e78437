import numpy as np
import pytest
import torch
from realimages import brain_slices, chest_crops, ghosted, separation_auroc

from fmood import backbones
from fmood.errors import BackboneError, WeightsUnavailableError

# ImageNet classes 281-285 are the domestic cats.
CAT_CLASSES = range(281, 286)


@pytest.fixture(scope="module")
def real():
    return backbones.load("efficientnet-lite0", device="cpu")


@pytest.fixture(scope="module")
def random_weights():
    torch.manual_seed(0)
    return backbones.load("efficientnet-lite0", device="cpu", pretrained=False)


def test_shape_dim_determinism(real):
    images = list(brain_slices()[:3])
    out = real.embed(images)
    assert out.shape == (3, 1280) == (3, real.dim)
    np.testing.assert_array_equal(out, real.embed(images))


def test_real_imagenet_weights_classify_a_cat(real):
    """The packaged weights are real: the classifier head (not used for features) sees a cat."""
    import skimage.data

    x = real.preprocess(skimage.data.chelsea().astype(np.float32) / 255)[None]
    with torch.inference_mode():
        top = int(real.module(x).argmax())
    assert top in CAT_CLASSES


def test_real_weights_separate_modalities_and_see_artifacts_random_do_not(real, random_weights):
    brain, chest, artifact = brain_slices()[:16], chest_crops()[:16], ghosted(brain_slices()[:16])
    assert separation_auroc(real.embed(brain), real.embed(chest)) > 0.99
    # The harder pair: the same slices with MR ghosting. Random filters barely see it.
    real_auc = separation_auroc(real.embed(brain), real.embed(artifact))
    random_auc = separation_auroc(random_weights.embed(brain), random_weights.embed(artifact))
    assert real_auc > 0.9
    assert real_auc - random_auc > 0.3


def test_fingerprint(real, random_weights):
    again = backbones.load("efficientnet-lite0", device="cpu")
    assert real.fingerprint == again.fingerprint
    assert real.fingerprint.weights_sha256 != random_weights.fingerprint.weights_sha256
    layered = backbones.load("efficientnet-lite0", device="cpu", layers=[4, 10])
    assert layered.fingerprint.preprocessing.endswith("layers=4,10")
    assert layered.fingerprint.weights_sha256 == real.fingerprint.weights_sha256


def test_layers_add_pooled_block_outputs(real):
    layered = backbones.load("efficientnet-lite0", device="cpu", layers=[4, 16])
    out = layered.embed(list(brain_slices()[:2]))
    assert out.shape == (2, layered.dim) and layered.dim > 1280
    # The final block is unit-normed, then the head's features (as without layers, normed).
    final = real.embed(list(brain_slices()[:2]))
    np.testing.assert_allclose(
        out[:, -1280:], final / np.linalg.norm(final, axis=1, keepdims=True), rtol=1e-4, atol=1e-6
    )


def test_blocks_name_each_layer_slice_in_network_order(real):
    """Blocks follow the network, not the order asked: each slice is that layer, unit-normed."""
    images = list(brain_slices()[:2])
    layered = backbones.load("efficientnet-lite0", device="cpu", layers=[4, 2])
    assert layered.blocks == (("block2", 24), ("block4", 40), ("final", 1280))
    assert real.blocks == (("final", 1280),)
    out = layered.embed(images)
    np.testing.assert_allclose(np.linalg.norm(out[:, :24], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out[:, 24:64], axis=1), 1.0, rtol=1e-5)
    only4 = backbones.load("efficientnet-lite0", device="cpu", layers=[4])
    assert only4.blocks == (("block4", 40), ("final", 1280))
    np.testing.assert_allclose(out[:, 24:], only4.embed(images), rtol=1e-4, atol=1e-6)


def test_local_weights_file_and_errors(tmp_path, real):
    path = tmp_path / "lite0.pth"
    torch.save(real.module.state_dict(), path)
    again = backbones.load("efficientnet-lite0", weights=str(path), device="cpu")
    assert again.fingerprint == real.fingerprint
    with pytest.raises(WeightsUnavailableError):
        backbones.load("efficientnet-lite0", weights=str(tmp_path / "none.pth"), device="cpu")
    with pytest.raises(BackboneError, match="local .pth"):
        backbones.load("efficientnet-lite0", weights="someone/lite0", device="cpu")
    torch.save({"_conv_stem.weight": torch.ones(1)}, tmp_path / "wrong.pth")
    with pytest.raises(BackboneError, match="do not fit"):
        backbones.load("efficientnet-lite0", weights=str(tmp_path / "wrong.pth"), device="cpu")
