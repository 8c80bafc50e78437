"""Deprecated alias of :mod:`fmood_bench.datasets.medical`.

The medical OOD dataset built for the demo and the benchmark moved out of the library, to the
benchmark package. Every name here warns (DeprecationWarning) when used, and so does each
submodule's (``fmood.datasets.medical.builder`` and the rest).
"""

from __future__ import annotations

from typing import Any

from fmood._deprecation import forward
from fmood_bench.datasets import medical as _new

__all__ = _new.__all__


def __getattr__(name: str) -> Any:
    return forward(__name__, _new, name, only=__all__)
