"""Deprecated alias of :mod:`fmood_bench.evaluation.baselines`.

The pytorch-ood baselines moved out of the library, to the benchmark package. Every name here
warns (DeprecationWarning) when used.
"""

from __future__ import annotations

from typing import Any

from fmood._deprecation import forward
from fmood_bench.evaluation import baselines as _new


def __getattr__(name: str) -> Any:
    return forward(__name__, _new, name)
