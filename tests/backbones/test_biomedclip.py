"""BiomedCLIP offline: the real image-tower architecture (ViT-B/16) with random weights.

The hub is unreachable here, so a stand-in of the hub repository is built with open_clip
itself: BiomedCLIP's config, but a 2-layer BERT text tower and a 20-word tokenizer. fmood
must load that directory and give what open_clip's own model gives.
"""

import argparse
import json

import numpy as np
import pytest
import torch

from fmood import backbones
from fmood.backbones.biomedclip import BIOMEDCLIP_CONFIG, DEFAULT_HUB_ID, BiomedCLIPBackbone
from fmood.backbones.preprocessing import CLIP_MEAN, CLIP_STD, Preprocessing
from fmood.errors import BackboneError, InvalidInputError, WeightsUnavailableError

open_clip = pytest.importorskip("open_clip")
transformers = pytest.importorskip("transformers")
hub_constants = pytest.importorskip("huggingface_hub.constants")
safetensors_torch = pytest.importorskip("safetensors.torch")

WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "a",
    "of",
    "the",
    "chest",
    "x",
    "-",
    "ray",
    "brain",
    "mri",
    "ct",
    "scan",
    "normal",
    "abnormal",
    "photo",
    ".",
]
PROMPTS = ["a chest x-ray", "a brain MRI scan", "a photo of the abnormal chest ct"]


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory):
    """No hub: fail fast instead of retrying, and never find a developer's cached weights."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(hub_constants, "HF_HUB_OFFLINE", True)
        mp.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf")))
        yield


@pytest.fixture(scope="module")
def hub_copy(tmp_path_factory):
    """(directory in the hub's layout, the open_clip model it holds, its tokenizer)."""
    root = tmp_path_factory.mktemp("biomedclip")
    bert = root / "bert"
    transformers.BertConfig(
        vocab_size=len(WORDS),
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        max_position_embeddings=256,
    ).save_pretrained(bert)
    config = json.loads(json.dumps(BIOMEDCLIP_CONFIG))
    build = root / "build"
    build.mkdir()
    config["model_cfg"]["text_cfg"]["hf_model_name"] = str(bert)
    (build / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{build}", pretrained_text=False).eval()

    # What `hf download` gives: the real config (text tower named by its hub id, which
    # is unreachable here), the checkpoint and the tokenizer files.
    repo = root / "repo"
    repo.mkdir()
    (repo / "open_clip_config.json").write_text(json.dumps(BIOMEDCLIP_CONFIG))
    torch.save(model.state_dict(), repo / "open_clip_pytorch_model.bin")
    transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)}).save_pretrained(repo)
    tokenizer = open_clip.get_tokenizer(f"local-dir:{repo}")
    return repo, model, tokenizer


@pytest.fixture(scope="module")
def loaded(hub_copy):
    return backbones.load("biomedclip", weights=str(hub_copy[0]), device="cpu")


@pytest.fixture(scope="module")
def images():
    """Two small images, grey and RGB (the weights are random: content is moot)."""
    rng = np.random.default_rng(0)
    return [rng.random(shape, dtype=np.float32) for shape in [(200, 240), (256, 300, 3)]]


@pytest.fixture(scope="module")
def vectors(loaded, images):
    return loaded.embed(images)


def test_hub_copy_gives_open_clips_normalised_image_embedding(hub_copy, loaded, images, vectors):
    _, model, _ = hub_copy
    assert isinstance(loaded, BiomedCLIPBackbone) and loaded.name == "biomedclip"
    assert loaded.dim == 512
    assert loaded.preprocessing == Preprocessing(
        224,
        resize="crop",
        crop_fraction=1.0,
        mean=CLIP_MEAN,
        std=CLIP_STD,
        interpolation="bicubic",
    )
    out = vectors
    assert out.shape == (2, 512) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    batch = torch.stack([loaded.preprocess(im) for im in images])
    with torch.inference_mode():
        expected = model.encode_image(batch, normalize=True).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(out, loaded.embed(images))


def test_encode_text_offline_matches_open_clip(hub_copy, loaded):
    """The BERT config comes from the checkpoint's shapes: its hub id is unreachable."""
    _, model, tokenizer = hub_copy
    text = loaded.encode_text(PROMPTS)
    assert text.shape == (3, 512) and text.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, rtol=1e-5)
    with torch.inference_mode():
        expected = model.encode_text(tokenizer(PROMPTS), normalize=True).numpy()
    np.testing.assert_allclose(text, expected, rtol=1e-4, atol=1e-5)
    assert loaded.encode_text([]).shape == (0, 512)
    with pytest.raises(InvalidInputError, match="list of strings"):
        loaded.encode_text("a chest x-ray")


def test_fingerprint_same_weights_any_format_other_weights_differ(
    hub_copy, loaded, images, vectors
):
    repo, model, _ = hub_copy
    alone = repo.parent / "alone"
    alone.mkdir()
    # A checkpoint file without a config next to it is read with BiomedCLIP's config.
    safetensors_torch.save_file(model.state_dict(), alone / "biomedclip.safetensors")
    again = backbones.load(
        "biomedclip", weights=str(alone / "biomedclip.safetensors"), device="cpu"
    )
    assert again.fingerprint == loaded.fingerprint
    np.testing.assert_allclose(again.embed(images[:1]), vectors[:1], rtol=1e-4, atol=1e-6)
    random = backbones.load("biomedclip", pretrained=False, device="cpu")
    assert random.dim == 512 and random.preprocessing == loaded.preprocessing
    assert random.fingerprint.weights_sha256 != loaded.fingerprint.weights_sha256
    np.testing.assert_allclose(np.linalg.norm(random.embed(images[:1]), axis=1), 1.0, rtol=1e-5)


def test_layers_add_pooled_block_outputs(loaded, images, vectors):
    layered = BiomedCLIPBackbone(loaded.module, loaded.source, layers=(12, 3), device="cpu")
    assert layered.dim == 2 * 768 + 512 and layered.layers == (3, 12)
    assert layered.blocks == (("block3", 768), ("block12", 768), ("final", 512))
    out = layered.embed(images)
    np.testing.assert_allclose(out[:, -512:], vectors, rtol=1e-4, atol=1e-5)
    # Block 3's output averaged over the 196 patch tokens (the class token left out).
    trunk = loaded.module.trunk
    batch = torch.stack([loaded.preprocess(im) for im in images])
    with torch.inference_mode():
        tokens = trunk.blocks[:3](trunk.norm_pre(trunk._pos_embed(trunk.patch_embed(batch))))
        block3 = torch.nn.functional.normalize(tokens[:, 1:].mean(dim=1), dim=1).numpy()
    np.testing.assert_allclose(out[:, :768], block3, rtol=1e-4, atol=1e-5)
    assert layered.fingerprint.weights_sha256 == loaded.fingerprint.weights_sha256
    assert layered.fingerprint.preprocessing.endswith("layers=3,12")
    assert layered.fingerprint != loaded.fingerprint


def test_hub_without_network_says_how_to_pass_a_copy():
    for weights in (None, "hf-hub:someone/BiomedCLIP-finetuned"):
        with pytest.raises(WeightsUnavailableError) as info:
            backbones.load("biomedclip", weights=weights, device="cpu")
        message = str(info.value)
        hub_id = weights or DEFAULT_HUB_ID
        assert "--weights DIR" in message and hub_id.removeprefix("hf-hub:") in message


def test_bad_directories_and_checkpoints(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="open_clip_config.json"):
        backbones.load("biomedclip", weights=str(tmp_path), device="cpu")
    (tmp_path / "open_clip_config.json").write_text(json.dumps(BIOMEDCLIP_CONFIG))
    with pytest.raises(WeightsUnavailableError, match="no checkpoint"):
        backbones.load("biomedclip", weights=str(tmp_path), device="cpu")
    # A checkpoint that pickles a Python object is refused before anything is built.
    checkpoint = {"visual.head.proj.weight": torch.zeros(1), "args": argparse.Namespace(lr=1)}
    torch.save(checkpoint, tmp_path / "open_clip_pytorch_model.bin")
    with pytest.raises(BackboneError, match="weights_only"):
        backbones.load("biomedclip", weights=str(tmp_path), device="cpu")
    with pytest.raises(WeightsUnavailableError, match="not found"):
        backbones.load("biomedclip", weights=str(tmp_path / "missing.bin"), device="cpu")
