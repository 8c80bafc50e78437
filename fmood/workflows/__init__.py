"""What users run: a report for a new dataset, a backbone comparison, an image explained."""
from fmood.workflows.compare import ComparisonResult, compare
from fmood.workflows.neighbors import ImageExplanation, explain_image
from fmood.workflows.report import report
from fmood.workflows.sources import backbone_of_store, is_store, store_for

__all__ = [
    "ComparisonResult",
    "ImageExplanation",
    "backbone_of_store",
    "compare",
    "explain_image",
    "is_store",
    "report",
    "store_for",
]
