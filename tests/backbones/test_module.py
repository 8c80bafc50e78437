import numpy as np
import pytest
import torch

from fmood.backbones import ModuleBackbone, Preprocessing
from fmood.errors import BackboneError


class Tokens(torch.nn.Module):
    """A ViT-like output: (n, tokens, c)."""

    def forward(self, x):
        return x.flatten(2).transpose(1, 2)[:, :, :3] * 2


def test_output_kinds_are_pooled_to_one_vector():
    conv = torch.nn.Conv2d(3, 4, 1)
    assert ModuleBackbone(conv, Preprocessing(8), "conv", device="cpu").dim == 4
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 6))
    assert ModuleBackbone(flat, Preprocessing(8), "flat", device="cpu").dim == 6
    bb = ModuleBackbone(Tokens(), Preprocessing(8), "tokens", device="cpu")
    pixels = np.full((8, 8), 0.25, np.float32)
    np.testing.assert_allclose(bb.embed([pixels]), [[0.5, 0.5, 0.5]])


def test_a_module_that_fails_or_returns_no_tensor_is_reported():
    with pytest.raises(BackboneError, match="forward pass"):
        ModuleBackbone(torch.nn.Linear(5, 2), Preprocessing(8), "bad", device="cpu")

    class Dict(torch.nn.Module):
        def forward(self, x):
            return {"x": x}

    with pytest.raises(BackboneError, match="must return a tensor"):
        ModuleBackbone(Dict(), Preprocessing(8), "dict", device="cpu")
    with pytest.raises(BackboneError, match="nn.Module"):
        ModuleBackbone(lambda x: x, Preprocessing(8), "fn", device="cpu")


def test_probe_leaves_training_mode_of_callers_module_to_the_backbone():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.Dropout(0.5))
    net.train()
    bb = ModuleBackbone(net, Preprocessing(8), "drop", device="cpu")
    x = [np.random.default_rng(0).random((8, 8), dtype=np.float32)]
    np.testing.assert_array_equal(bb.embed(x), bb.embed(x))  # dropout off: eval mode
