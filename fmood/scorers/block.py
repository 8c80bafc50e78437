"""Any registered scorer on one layer block of a multi-layer embedding (a column slice).

A backbone with ``layers`` concatenates unit-normed pooled layers (``Backbone.blocks`` and
``FeatureStore.blocks`` give their names and widths). Scoring each block on its own, each
with its own conformal p-value merged by :class:`~fmood.calibration.OODDetector`'s Cauchy
combination, keeps an early layer's acquisition evidence from being drowned by the wide
final layer: Lee et al.'s feature ensemble (NeurIPS 2018), and OpenMIBOOD's finding that
scanner shift is visible to a multi-layer Mahalanobis ensemble only (Gutbrod et al., 2025).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fmood._validation import check_is_fitted
from fmood.errors import InvalidInputError
from fmood.scorers.base import (
    FEATURES,
    BaseScorer,
    check_params,
    check_state,
    get_scorer,
    register,
)
from fmood.utils.blocks import check_blocks

#: Prefix of the wrapped scorer's arrays in :meth:`BlockScorer.get_state`.
_INNER = "inner."


@register
class BlockScorer(BaseScorer):
    """The registered scorer ``scorer`` fitted and applied to columns ``[start, stop)`` of X.

    Parameters
    ----------
    scorer : str
        Registered name of the wrapped scorer (not ``"block"``).
    start, stop : int
        Column range of the block; ``stop=None`` runs to the last column.
    block : str
        Name of the block (``"block2"``, ``"final"``); only for :attr:`label`.
    params : dict, optional
        Constructor parameters of the wrapped scorer (JSON-ready, so a saved detector keeps them).

    Attributes
    ----------
    scorer_ : BaseScorer
        The wrapped scorer, fitted on the block's columns.
    n_features_in_ : int
        Width of the whole embedding.

    See Also
    --------
    block_scorers : one block scorer per layer block and scorer name.
    fmood.calibration.detector.OODDetector : merges the blocks' p-values.

    References
    ----------
    Lee, Lee, Lee & Shin, "A Simple Unified Framework for Detecting Out-of-Distribution
    Samples and Adversarial Attacks", NeurIPS 2018 (feature ensemble). Gutbrod et al.,
    "OpenMIBOOD: Open Medical Imaging Benchmarks for Out-Of-Distribution Detection",
    CVPR 2025.

    Examples
    --------
    >>> import numpy as np
    >>> from fmood.scorers import BlockScorer
    >>> X = np.random.default_rng(0).normal(size=(200, 30))
    >>> early = BlockScorer("mahalanobis", 0, 10, block="block2").fit(X)
    >>> early.label, early.score_samples(X[:3]).shape
    ('mahalanobis@block2', (3,))
    """

    name = "block"
    reference = "Lee et al., NeurIPS 2018 (feature ensemble); Gutbrod et al., OpenMIBOOD, CVPR 2025"

    def __init__(
        self,
        scorer: str = "mahalanobis",
        start: int = 0,
        stop: int | None = None,
        block: str = "",
        params: dict | None = None,
    ) -> None:
        self.scorer = scorer
        self.start = start
        self.stop = stop
        self.block = block
        self.params = params

    @property
    def uses_labels(self) -> bool:  # type: ignore[override]
        """Whether the wrapped scorer uses class labels."""
        return type(self._inner()).uses_labels

    @property
    def label(self) -> str:
        """``"<scorer>@<block>"`` (or ``@start:stop``): this scorer's column in a detector."""
        where = self.block or f"{self.start}:{'' if self.stop is None else self.stop}"
        return f"{self.scorer}@{where}"

    def _inner(self) -> BaseScorer:
        """A fresh wrapped scorer, after checking this one's parameters."""
        check_params(type(self), self.get_params(deep=False))
        if self.scorer == self.name:
            raise InvalidInputError("a block scorer cannot wrap another block scorer")
        params = dict(self.params or {})
        inner = get_scorer(self.scorer, **params)
        check_params(type(inner), params)
        return inner

    def _columns(self, n_features: int) -> slice:
        stop = n_features if self.stop is None else self.stop
        if not 0 <= self.start < stop <= n_features:
            raise InvalidInputError(
                f"block scorer {self.label}: columns [start, stop) = [{self.start}, {stop}) must "
                f"be a non-empty range inside the {n_features} features of X"
            )
        return slice(self.start, stop)

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> BlockScorer:
        """Fit the wrapped scorer on the block's columns of ``X`` (n_samples, n_features).

        ``y`` (n_samples,), optional: class labels, passed on if the wrapped scorer uses them.
        """
        X, y = self._validate_fit_data(X, y)
        inner = self._inner()
        self.scorer_ = inner.fit(X[:, self._columns(X.shape[1])], y)
        self.n_features_in_ = X.shape[1]
        return self

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """The wrapped scorer's score of the block's columns of each row of ``X``
        (n_samples, n_features), shape (n_samples,), higher = more OOD."""
        X = self._validate_score_data(X)
        return self.scorer_.score_samples(X[:, self._columns(self.n_features_in_)])

    # -- persistence: the wrapped scorer's arrays under "inner." ----------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """``n_features_in_`` and the wrapped scorer's state, its keys prefixed ``inner.``."""
        check_is_fitted(self, "n_features_in_")
        inner = {_INNER + k: v for k, v in self.scorer_.get_state().items()}
        return {FEATURES: np.asarray(self.n_features_in_), **inner}

    def set_state(self, state: dict[str, np.ndarray]) -> BlockScorer:
        """Restore :meth:`get_state`'s arrays; :class:`InvalidInputError` when they do not fit
        the parameters (another scorer's state, a block outside the embedding)."""
        inner = self._inner()
        own = {k: v for k, v in state.items() if not k.startswith(_INNER)}
        n_features = check_state(own, {FEATURES: ("iu", ())}, f"scorer {self.name!r}")[FEATURES]
        columns = self._columns(n_features)
        try:
            inner.set_state({k[len(_INNER) :]: v for k, v in state.items() if k.startswith(_INNER)})
        except InvalidInputError as err:
            raise InvalidInputError(f"block scorer {self.label}: {err}") from None
        width = columns.stop - columns.start
        if inner.n_features_in_ != width:
            raise InvalidInputError(
                f"block scorer {self.label}: the {self.scorer} state has {inner.n_features_in_} "
                f"features, but the block [{columns.start}, {columns.stop}) is {width} wide"
            )
        self._forget()
        self.scorer_, self.n_features_in_ = inner, n_features
        return self


def block_scorers(
    blocks: Sequence[tuple[str, int]],
    scorers: Sequence[str | tuple[str, dict[str, Any]]] = ("mahalanobis", "residual"),
) -> list[BlockScorer]:
    """One :class:`BlockScorer` per block and scorer, for ``OODDetector(scorers=...)``.

    Parameters
    ----------
    blocks : sequence of (name, width)
        In concatenation order, e.g. ``FeatureStore.blocks`` or ``Backbone.blocks``.
    scorers : sequence of name or (name, params)
        What to fit on each block.

    Examples
    --------
    >>> [s.label for s in block_scorers([("block2", 24), ("final", 1280)], ["mahalanobis"])]
    ['mahalanobis@block2', 'mahalanobis@final']
    """
    specs = [(s, None) if isinstance(s, str) else (s[0], dict(s[1])) for s in scorers]
    if not specs:
        raise InvalidInputError("scorers is empty; give at least one scorer name")
    out, start = [], 0
    for block, width in check_blocks(blocks):
        out += [BlockScorer(name, start, start + width, block, params) for name, params in specs]
        start += width
    return out
