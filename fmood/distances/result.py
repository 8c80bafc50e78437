"""The outcome of a dataset-level distance: value, uncertainty and noise floor."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: What ``ratio`` (value / null level) means for each method, in one line. Ratios are not
#: comparable across methods: each estimator has its own floor between two samples of one
#: distribution, so one shift gives very different ratios.
RATIO_MEANINGS: dict[str, str] = {
    "mmd": "unbiased MMD^2 of an RBF kernel; between two samples of one distribution it "
    "scatters around 0, so its null level is near 0 and the ratio explodes (tens to "
    "hundreds) once the target differs: read the p-value, not the size of the ratio",
    "frechet": "Frechet distance of Gaussians fitted to each side; it has a large "
    "finite-sample bias (two samples of one distribution are far apart in "
    "high dimension), so the null level is large and the ratio stays near 1: "
    "1.4x can be a clear shift",
    "sliced_wasserstein": "sliced Wasserstein-2 over random directions; biased upward on "
    "finite samples like frechet, so its ratio stays small (a few x "
    "at most)",
    "sinkhorn": "entropic optimal-transport cost over the median within-reference cost; "
    "the entropic blur and sample size keep it far from 0 between two samples "
    "of one distribution, so its ratio stays near 1",
    "classifier": "cross-validated AUROC of a classifier telling target from reference; "
    "its null level is chance (about 0.5), so the ratio is at most 2 (AUROC "
    "1): read the AUROC itself",
}
#: The sentence every ratio explanation shares.
RATIO_NOTE = (
    "ratio = value / null level (the same distance between two random parts of the "
    "reference): about 1 or less means the target looks like another sample of the "
    "reference; each method has its own null level, so ratios are not comparable "
    "across methods"
)


@dataclass(frozen=True)
class DistanceResult:
    """A distance between a reference set A and a target set B, with its context.

    Attributes
    ----------
    method : str
        Registered name of the distance (``fmood.distances.available_distances()``).
    value : float
        The distance between (the possibly subsampled) A and B.
    ci_low, ci_high : float or None
        Bootstrap confidence interval (see :func:`fmood.distances.resampling.bootstrap_interval`);
        None when ``n_bootstrap=0``.
    null_level : float or None
        Noise floor: the same distance between two random disjoint halves of A, in absolute
        value, averaged over ``n_null`` splits; None when ``n_null=0``. A half has half of
        A's rows, so for the biased estimators (frechet, sliced_wasserstein, sinkhorn),
        whose value between two samples of one distribution shrinks with sample size, this
        floor is conservative (a little high). Unbiased MMD^2 scatters around 0 at any
        size; its floor is the typical size of that scatter (at half size, again a little
        wide). For the classifier it is the AUROC of chance, about 0.5.
    ratio : float or None
        ``value / null_level``: about 1 or less when B looks like another sample of A.
        Not comparable across methods (:data:`RATIO_MEANINGS`, :attr:`ratio_meaning`): MMD's
        null level is near 0, so its ratio explodes; frechet's is large, so its ratio stays
        near 1 for the same shift.
        When ``null_level`` is 0 (e.g. A has one distinct vector): ``inf`` if ``value > 0``,
        else ``nan``. None when ``null_level`` is None.
    p_value : float or None
        Permutation p-value of "A and B come from one distribution" (mmd); None for methods
        without a test.
    n_a, n_b : int
        Rows of A and B as given (before any ``max_samples`` subsampling; the rows used are
        ``extra["n_a_used"]``, ``extra["n_b_used"]``).
    params : dict
        Every parameter that defines the result, resolved (bandwidth, seed, scale, ...).
    extra : dict
        Method-specific by-products and the individual null-split values.
    """

    method: str
    value: float
    ci_low: float | None
    ci_high: float | None
    null_level: float | None
    ratio: float | None
    p_value: float | None
    n_a: int
    n_b: int
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio_meaning(self) -> str:
        """What this method's ratio measures (:data:`RATIO_MEANINGS`), or ``""`` if unknown."""
        return RATIO_MEANINGS.get(self.method, "")

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only; non-finite numbers (a ratio over a zero null level) become
        None, so the result is strict JSON."""
        return _plain(asdict(self))

    def __str__(self) -> str:
        text = f"{self.method} = {self.value:.4g}"
        if self.ci_low is not None and self.ci_high is not None:
            text += f" [{self.ci_low:.3g}, {self.ci_high:.3g}]"
        if self.null_level is not None and self.ratio is not None:
            text += f" (null {self.null_level:.2g}, {_format_ratio(self.ratio)})"
        if self.p_value is not None:
            text += f", p = {self.p_value:.3g}"
        return text


def _format_ratio(ratio: float) -> str:
    return f"{ratio:.1f}x" if math.isfinite(ratio) else f"{ratio}x"


def _plain(obj: Any) -> Any:
    """Recursively turn numpy scalars and arrays into Python numbers and lists."""
    if isinstance(obj, dict):
        return {str(key): _plain(item) for key, item in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(item) for item in obj]
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return _plain(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
