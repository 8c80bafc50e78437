import pytest
import torch

from fmood import backbones
from fmood.backbones import ModuleBackbone, Preprocessing
from fmood.backbones.registry import _REGISTERED, require
from fmood.errors import BackboneError


def test_available_lists_every_builtin_and_the_timm_prefix():
    names = backbones.available_backbones()
    for name in ("biomedclip", "dinov2-base", "medsam", "litemedsam", "efficientnet-lite0"):
        assert name in names
    assert "timm:<model>" in names


def test_unknown_name_lists_what_exists():
    with pytest.raises(BackboneError, match="unknown backbone 'dinov3'.*litemedsam"):
        backbones.load("dinov3")
    with pytest.raises(BackboneError, match="string"):
        backbones.load(None)


def test_register_a_custom_backbone(monkeypatch):
    monkeypatch.setattr("fmood.backbones.registry._REGISTERED", dict(_REGISTERED))

    def factory(name, weights, device, width=2):
        return ModuleBackbone(torch.nn.Conv2d(3, width, 1), Preprocessing(8), name, device=device)

    backbones.register_backbone("mine", factory)
    assert backbones.load("mine", device="cpu", width=3).dim == 3
    assert "mine" in backbones.available_backbones()
    with pytest.raises(BackboneError, match="already exists"):
        backbones.register_backbone("mine", factory)
    with pytest.raises(BackboneError, match="already exists"):
        backbones.register_backbone("litemedsam", factory)


def test_require_names_the_install_command():
    with pytest.raises(BackboneError, match="pip install some-extra"):
        require("fmood_no_such_package", "some-extra", "x")


def test_an_option_a_backbone_does_not_take_is_named():
    with pytest.raises(BackboneError, match="does not take the option.*pooling.*takes: layers"):
        backbones.load("efficientnet-lite0", device="cpu", pooling="cls")
