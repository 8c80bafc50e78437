import numpy as np
import pytest
import torch

from fmood.backbones.base import (
    Backbone,
    concat_layers,
    layer_blocks,
    parse_layers,
    pool,
    resolve_device,
)
from fmood.backbones.module import ModuleBackbone
from fmood.backbones.preprocessing import Preprocessing
from fmood.errors import InvalidInputError
from fmood.io.image import Image


def tiny(seed: int = 0) -> ModuleBackbone:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.ReLU())
    return ModuleBackbone(net, Preprocessing(16), name="tiny", device="cpu")


def test_embed_batches_and_matches_one_by_one():
    bb = tiny()
    rng = np.random.default_rng(0)
    images = [rng.random((20 + i, 30), dtype=np.float32) for i in range(7)]
    together = bb.embed(images, batch_size=3)
    assert together.shape == (7, 5) and together.dtype == np.float32
    alone = np.concatenate([bb.embed([im]) for im in images])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    # Image objects and bare pixels give the same vectors.
    np.testing.assert_array_equal(bb.embed([Image(images[0], "x.png")]), bb.embed(images[:1]))
    assert bb.embed([]).shape == (0, 5)


def test_fingerprint_follows_weights_not_object_identity():
    a, b, c = tiny(0), tiny(0), tiny(1)
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint.weights_sha256 != c.fingerprint.weights_sha256
    assert a.fingerprint.preprocessing == Preprocessing(16).describe()


def test_embed_batch_checks_shape():
    with pytest.raises(InvalidInputError, match=r"\(n, 3, 16, 16\)"):
        tiny().embed_batch(torch.zeros(2, 3, 8, 8))


def test_blocks_default_to_one_and_must_add_up_to_dim():
    assert tiny().blocks == (("final", 5),)
    assert layer_blocks("stage", [1, 3], [4, 8], 16) == (
        ("stage1", 4),
        ("stage3", 8),
        ("final", 16),
    )
    net = torch.nn.Identity()
    with pytest.raises(InvalidInputError, match="add up to 6, not dim 7"):
        Backbone("x", net, Preprocessing(16), 7, device="cpu", blocks=(("a", 2), ("final", 4)))


def test_module_is_frozen_in_eval_mode():
    bb = tiny()
    assert not bb.module.training
    assert not any(p.requires_grad for p in bb.module.parameters())


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidInputError, match="device"):
        resolve_device("gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="no CUDA"):
            resolve_device("cuda")


def test_pool_shapes():
    assert pool(torch.ones(2, 4, 3, 3)).shape == (2, 4)
    assert pool(torch.ones(2, 7, 4)).shape == (2, 4)
    assert pool(torch.ones(2, 4)).shape == (2, 4)
    with pytest.raises(InvalidInputError):
        pool(torch.ones(2))


def test_concat_layers_unit_norms_each_block():
    a, b = torch.randn(3, 4) * 100, torch.randn(3, 2)
    out = concat_layers([a, b])
    assert out.shape == (3, 6)
    torch.testing.assert_close(out[:, :4].norm(dim=1), torch.ones(3))
    torch.testing.assert_close(out[:, 4:].norm(dim=1), torch.ones(3))
    assert concat_layers([a]) is a


def test_parse_layers():
    assert parse_layers(None, 12, "m") == ()
    assert parse_layers([1, -1], 12, "m") == (1, 12)
    assert parse_layers("4, 8,12", 12, "m") == (4, 8, 12)
    with pytest.raises(InvalidInputError, match="1..12"):
        parse_layers([13], 12, "m")
    with pytest.raises(InvalidInputError, match="repeat"):
        parse_layers([3, 3], 12, "m")
    with pytest.raises(InvalidInputError, match="integers"):
        parse_layers("a,b", 12, "m")
