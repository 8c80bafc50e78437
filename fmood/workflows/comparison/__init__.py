"""``compare`` split by job: which backbone for a target hospital?

- :mod:`.config`: the settings (:class:`CompareConfig`) and the backbones compared.
- :mod:`.embedding`: a backbone loaded, both sides embedded (stores reused), throughput.
- :mod:`.measures`: the measures on embeddings (separability, domain classifier, probe).
- :mod:`.record`: one :class:`BackboneMeasures` record per backbone, every number once.
- :mod:`.output`: the ranked table and the files, both read off the records.
- :mod:`.run`: :func:`compare` itself, tying them together.
"""

from fmood.workflows.comparison.config import BackboneSpec, CompareConfig, parse_backbones
from fmood.workflows.comparison.record import BackboneMeasures
from fmood.workflows.comparison.run import ComparisonResult, compare

__all__ = [
    "BackboneMeasures",
    "BackboneSpec",
    "CompareConfig",
    "ComparisonResult",
    "compare",
    "parse_backbones",
]
