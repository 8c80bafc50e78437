"""What users run: a report for a new dataset, a backbone comparison, an image explained.

``explain_image`` and the store helpers run with the core install; ``compare`` and
``report`` need the 'fmood[all]' extras (torch, the report's packages). Their modules are
:mod:`fmood.workflows.comparison` and :mod:`fmood.workflows.ood_report`, named apart from the
functions so that ``fmood.workflows.compare`` is always the function.
"""

from fmood._extras import MissingExtraError, missing_extra
from fmood.workflows.neighbors import ImageExplanation, explain_image
from fmood.workflows.sources import backbone_of_store, is_store, store_for

try:
    from fmood.workflows.comparison import (
        BackboneMeasures,
        CompareConfig,
        ComparisonResult,
        compare,
    )
    from fmood.workflows.ood_report import report
except ImportError as exc:
    _MISSING = (
        exc
        if isinstance(exc, MissingExtraError)
        else missing_extra(exc, "fmood.workflows.compare and .report", "all")
    )
    if not isinstance(_MISSING, MissingExtraError):
        raise

    def __getattr__(name: str) -> object:
        if name in ("BackboneMeasures", "CompareConfig", "ComparisonResult", "compare", "report"):
            raise _MISSING
        raise AttributeError(f"module 'fmood.workflows' has no attribute {name!r}")


__all__ = [
    "BackboneMeasures",
    "CompareConfig",
    "ComparisonResult",
    "ImageExplanation",
    "backbone_of_store",
    "compare",
    "explain_image",
    "is_store",
    "report",
    "store_for",
]
