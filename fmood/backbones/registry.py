"""Backbones by name: one factory per name, imported only when that name is loaded."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from fmood.backbones.base import Backbone
from fmood.errors import BackboneError
from fmood.registry import DuplicateNameError, Registry, matching

Factory = Callable[..., Backbone]


class DuplicateBackboneError(DuplicateNameError, BackboneError):
    """A backbone name is registered already and ``overwrite=True`` was not passed."""


#: name -> "module:function"; modules import torch hub libraries, so they load lazily.
_BUILTIN: dict[str, str] = {
    "biomedclip": "fmood.backbones.biomedclip:load_biomedclip",
    "dinov2-small": "fmood.backbones.dinov2:load_dinov2",
    "dinov2-base": "fmood.backbones.dinov2:load_dinov2",
    "dinov2-large": "fmood.backbones.dinov2:load_dinov2",
    "dinov2-giant": "fmood.backbones.dinov2:load_dinov2",
    "medsam": "fmood.backbones.medsam:load_medsam",
    "litemedsam": "fmood.backbones.litemedsam:load_litemedsam",
    "efficientnet-lite0": "fmood.backbones.efficientnet:load_efficientnet_lite0",
}
#: name prefix -> factory taking the rest of the name as ``model``.
_PREFIXES: dict[str, str] = {"timm:": "fmood.backbones.timm_backbone:load_timm"}


#: Every backbone name -> its factory, or the "module:function" target of a built-in one.
BACKBONES: Registry[str | Factory] = Registry(
    "backbone", _BUILTIN, duplicate_error=DuplicateBackboneError
)


def register_backbone(name: str, factory: Factory, *, overwrite: bool = False) -> None:
    """Make ``load(name, ...)`` call ``factory(name=name, weights=..., device=..., **options)``.

    A taken name raises :class:`DuplicateBackboneError` (a :class:`BackboneError`) unless
    ``overwrite=True``; a name with a reserved prefix (``timm:``) always does, since the prefix
    decides how it loads.
    """
    reserved = next((p for p in _PREFIXES if name.startswith(p)), None)
    if reserved is not None:
        raise DuplicateBackboneError(
            f"backbone names starting with {reserved!r} are taken by that prefix; "
            f"choose a name without it, not {name!r}"
        )
    BACKBONES.register(name, factory, overwrite=overwrite)


def list_backbones(filter: str | Iterable[str] | None = None) -> list[str]:
    """Registered names, sorted, then ``timm:<model>`` for any timm model.

    ``filter``: fnmatch pattern(s), e.g. ``"dinov2-*"``; the ``timm:<model>`` entry is kept
    when a pattern matches it.
    """
    return BACKBONES.names(filter) + matching([f"{p}<model>" for p in _PREFIXES], filter)


def is_backbone(name: str) -> bool:
    """Whether ``load(name)`` knows ``name``: a registered name or ``timm:<model>``."""
    if not isinstance(name, str):
        return False
    prefixed = any(name.startswith(p) and len(name) > len(p) for p in _PREFIXES)
    return prefixed or name in BACKBONES


def available_backbones() -> list[str]:
    """Registered names, plus ``timm:<model>`` for any timm model (:func:`list_backbones`)."""
    return list_backbones()


def check_name(name: str, shown: str | None = None) -> None:
    """Raise :class:`BackboneError` unless ``name`` can be loaded (``shown`` names it in the message)."""
    if not is_backbone(name):
        raise BackboneError(
            f"unknown backbone {shown or name!r}; available: {', '.join(list_backbones())}"
        )


def _import(target: str) -> Factory:
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def load(name: str, weights: str | None = None, device: str = "auto", **options: Any) -> Backbone:
    """Build the backbone ``name`` with its weights, ready to embed.

    Parameters
    ----------
    name : str
        One of :func:`list_backbones`, or ``timm:<model>``.
    weights : str, optional
        A hub id or a local file/directory; None takes the backbone's default
        (a hub id, or weights that ship in a package).
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
    **options
        Backbone-specific choices (``pooling``, ``layers``, ``pretrained``...).

    Raises
    ------
    BackboneError
        Unknown name, a missing optional package, or weights that do not fit.
    WeightsUnavailableError
        Weights neither found locally nor fetchable (the message says how to pass a path).
    """
    if not isinstance(name, str):
        raise BackboneError(f"backbone name must be a string, got {type(name).__name__}")
    check_name(name)
    for prefix, target in _PREFIXES.items():
        if name.startswith(prefix):
            factory = _import(target)
            _check_options(factory, options, name)
            return factory(name[len(prefix) :], weights=weights, device=device, **options)
    entry = BACKBONES.get(name)
    factory = _import(entry) if isinstance(entry, str) else entry
    _check_options(factory, options, name)
    return factory(name=name, weights=weights, device=device, **options)


def _check_options(factory: Factory, options: dict[str, Any], name: str) -> None:
    """Name the options a backbone does not take, and the ones it does."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [p for p in params if p not in ("name", "model", "weights", "device")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise BackboneError(
            f"{name} does not take the option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(accepted) or 'none'}"
        )


def require(package: str, extra: str, backbone: str) -> Any:
    """Import ``package`` or say which pip install brings it."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise BackboneError(
            f"{backbone} needs the package {package!r}: pip install {extra}"
        ) from exc
