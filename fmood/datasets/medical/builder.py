"""Deprecated alias of :mod:`fmood_bench.datasets.medical.builder`.

The demo and benchmark data moved out of the library, to the benchmark package. Every name here
warns (DeprecationWarning) when used.
"""

from __future__ import annotations

from typing import Any

from fmood._deprecation import forward
from fmood_bench.datasets.medical import builder as _new


def __getattr__(name: str) -> Any:
    return forward(__name__, _new, name)
