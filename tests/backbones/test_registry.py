import pytest
import torch

from fmood import backbones
from fmood.backbones import ModuleBackbone, Preprocessing, registry
from fmood.backbones.registry import BACKBONES, DuplicateBackboneError, require
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


def factory(name, weights, device, width=2):
    return ModuleBackbone(torch.nn.Conv2d(3, width, 1), Preprocessing(8), name, device=device)


@pytest.fixture
def own_registry(monkeypatch):
    """Registrations made by a test are undone after it."""
    monkeypatch.setattr(BACKBONES, "_entries", dict(BACKBONES._entries))


def test_register_a_custom_backbone(own_registry):
    backbones.register_backbone("mine", factory)
    assert backbones.load("mine", device="cpu", width=3).dim == 3
    assert "mine" in backbones.available_backbones()
    assert registry.is_backbone("mine")
    backbones.register_backbone("mine", factory)  # the same factory again (a re-run cell): fine

    def another(**options):
        return factory(**options)

    with pytest.raises(DuplicateBackboneError, match="'mine' is registered already"):
        backbones.register_backbone("mine", another)
    with pytest.raises(BackboneError, match="'litemedsam' is registered already.*overwrite=True"):
        backbones.register_backbone("litemedsam", factory)
    with pytest.raises(BackboneError, match="starting with 'timm:' are taken"):
        backbones.register_backbone("timm:mine", factory, overwrite=True)


def test_overwrite_replaces_a_backbone_on_purpose(own_registry):
    backbones.register_backbone("litemedsam", factory, overwrite=True)
    assert backbones.load("litemedsam", device="cpu").dim == 2


def test_list_and_is_backbone():
    assert registry.list_backbones("dinov2-*") == [
        "dinov2-base",
        "dinov2-giant",
        "dinov2-large",
        "dinov2-small",
    ]
    assert registry.list_backbones("timm:*") == ["timm:<model>"]
    assert registry.list_backbones() == backbones.available_backbones()
    assert registry.is_backbone("timm:resnet18") and registry.is_backbone("medsam")
    assert not registry.is_backbone("timm:") and not registry.is_backbone("dinov3")
    assert not registry.is_backbone(None)


def test_require_names_the_install_command():
    with pytest.raises(BackboneError, match="pip install some-extra"):
        require("fmood_no_such_package", "some-extra", "x")


def test_an_option_a_backbone_does_not_take_is_named():
    with pytest.raises(BackboneError, match="does not take the option.*pooling.*takes: layers"):
        backbones.load("efficientnet-lite0", device="cpu", pooling="cls")
