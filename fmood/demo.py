"""Deprecated alias of :mod:`fmood_bench.demo`.

The demo's job moved out of the library, to the benchmark package; the ``fmood demo`` command is
unchanged. Every name here warns (DeprecationWarning) when used.
"""

from __future__ import annotations

from typing import Any

from fmood._deprecation import forward
from fmood_bench import demo as _new


def __getattr__(name: str) -> Any:
    return forward(__name__, _new, name)
