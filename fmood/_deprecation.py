"""Deprecated aliases: an old module path whose names forward, with a warning, to their new home."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Collection, Mapping
from types import ModuleType
from typing import Any


def forward(old: str, new: ModuleType, name: str, only: Collection[str] | None = None) -> Any:
    """``new.<name>``, warning that ``old.<name>`` is deprecated; for the module
    ``__getattr__`` of the alias module ``old``.

    ``only``: the names that forward, where not all of ``new``'s do (a package alias leaves
    out its submodules, so that the import system finds their own aliases). Dunder names
    (which ``inspect`` and ``pickle`` probe for) are not a use of the old path: they, like
    any name ``new`` lacks, raise AttributeError without a warning.
    """
    if name.startswith("__") or (only is not None and name not in only) or not hasattr(new, name):
        raise AttributeError(f"module {old!r} has no attribute {name!r}")
    warnings.warn(
        f"{old}.{name} is deprecated; use {new.__name__}.{name}",
        DeprecationWarning,
        stacklevel=3,  # the code that used the old name, past the alias's __getattr__
    )
    return getattr(new, name)


def forward_moved(old: str, moved: Mapping[str, tuple[str, str]], name: str) -> Any:
    """``<module>.<new>`` for ``moved[name] = (module, new)``, warning that ``old.<name>`` is
    deprecated; for an alias module whose names moved to several modules or were renamed."""
    if name not in moved:
        raise AttributeError(f"module {old!r} has no attribute {name!r}")
    module, new = moved[name]
    warnings.warn(
        f"{old}.{name} is deprecated; use {module}.{new}",
        DeprecationWarning,
        stacklevel=3,  # the code that used the old name, past the alias's __getattr__
    )
    return getattr(importlib.import_module(module), new)
