"""Features out: frozen image encoders behind one adapter.

``load(name, weights=None, device="auto")`` returns a :class:`Backbone` that knows its
preprocessing, output dimension and fingerprint, and embeds images.
"""

from fmood._extras import missing_extra

try:
    from fmood.backbones.base import Backbone
    from fmood.backbones.module import ModuleBackbone
    from fmood.backbones.preprocessing import Preprocessing
    from fmood.backbones.registry import (
        available_backbones,
        is_backbone,
        list_backbones,
        load,
        register_backbone,
    )
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "fmood.backbones (embedding images)", "models") from exc

__all__ = [
    "Backbone",
    "ModuleBackbone",
    "Preprocessing",
    "available_backbones",
    "is_backbone",
    "list_backbones",
    "load",
    "register_backbone",
]
