"""Deprecated alias of :mod:`fmood.metrics.probe`.

The linear probe stays in the library, beside the failure-prediction metrics it serves. Every
name here warns (DeprecationWarning) when used.
"""

from __future__ import annotations

from typing import Any

from fmood._deprecation import forward
from fmood.metrics import probe as _new


def __getattr__(name: str) -> Any:
    return forward(__name__, _new, name)
