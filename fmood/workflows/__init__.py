"""What users run: a report for a new dataset, a backbone for a stored store's images."""
from fmood.workflows.compare import ComparisonResult, compare
from fmood.workflows.report import report
from fmood.workflows.sources import backbone_of_store, is_store, store_for

__all__ = ["ComparisonResult", "backbone_of_store", "compare", "is_store", "report", "store_for"]
