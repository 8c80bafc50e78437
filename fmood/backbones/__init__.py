"""Features out: frozen image encoders behind one adapter.

``load(name, weights=None, device="auto")`` returns a :class:`Backbone` that knows its
preprocessing, output dimension and fingerprint, and embeds images.
"""
from fmood.backbones.base import Backbone
from fmood.backbones.module import ModuleBackbone
from fmood.backbones.preprocessing import Preprocessing
from fmood.backbones.registry import available_backbones, load, register_backbone

__all__ = [
    "Backbone",
    "ModuleBackbone",
    "Preprocessing",
    "available_backbones",
    "load",
    "register_backbone",
]
