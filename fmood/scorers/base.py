"""The contract every scorer follows, and the registry that finds scorers by name."""
from __future__ import annotations

import inspect
from typing import Any, ClassVar, Iterator, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from fmood._validation import check_embeddings, check_is_fitted, check_per_sample
from fmood.errors import InvalidInputError

_REGISTRY: dict[str, type["BaseScorer"]] = {}
S = TypeVar("S", bound=type["BaseScorer"])
T = TypeVar("T")

#: Rows scored per chunk: bounds the temporary (chunk, d) and (chunk, m) matrices.
DEFAULT_BATCH_SIZE = 4096


def parameter_names(cls: type) -> list[str]:
    """Names of the constructor parameters of ``cls`` (none for ``object.__init__``)."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in params if p.kind in named]


def construct(cls: type[T], kind: str, name: str, params: dict[str, Any]) -> T:
    """``cls(**params)``, after checking that ``cls`` takes every name in ``params``.

    ``kind`` and ``name`` ("scorer", "knn") name it in the error message.
    """
    valid = parameter_names(cls)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise InvalidInputError(
            f"{kind} {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are: {', '.join(valid) or '(none)'}"
        )
    return cls(**params)


class Parameters:
    """``get_params`` and ``repr`` from the constructor's parameters (scikit-learn's convention)."""

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters, as passed."""
        return {p: getattr(self, p) for p in parameter_names(type(self))}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class BaseScorer(Parameters):
    """A raw OOD scorer on embeddings: ``fit(X, y=None)`` then ``score(X)``, higher = more OOD.

    Subclasses set ``name`` and ``reference`` (the paper the score comes from), store their
    constructor arguments verbatim, learn state in ``_fit`` under names ending in ``_`` and
    compute scores in ``_score``. Fitted state is a dict of arrays (``get_state``), so a scorer
    can be saved as ``.npz`` and restored without pickle.
    """

    name: ClassVar[str]
    reference: ClassVar[str]
    #: Whether ``fit`` uses class labels ``y`` when given.
    uses_labels: ClassVar[bool] = False

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> "BaseScorer":
        """Fit on in-distribution embeddings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Class labels; used by scorers with ``uses_labels``, ignored by the others.
        """
        X = check_embeddings(X, "X")
        labels = check_per_sample(y, X.shape[0], "y") if self.uses_labels else None
        self._fit(X, labels)
        self.n_features_in_ = X.shape[1]
        return self

    def score(self, X: ArrayLike) -> np.ndarray:
        """Raw OOD score of each row of ``X``, shape (n_samples,), higher = more OOD."""
        check_is_fitted(self, "n_features_in_")
        X = check_embeddings(X, "X", dim=self.n_features_in_)
        return np.asarray(self._score(X), dtype=np.float64)

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        raise NotImplementedError

    def _score(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- persistence -----------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """Fitted state as named arrays (every attribute ending in ``_``)."""
        check_is_fitted(self, "n_features_in_")
        return {
            key: np.asarray(value)
            for key, value in vars(self).items()
            if key.endswith("_") and not key.startswith("_")
        }

    def set_state(self, state: dict[str, np.ndarray]) -> "BaseScorer":
        """Restore what :meth:`get_state` returned; returns self."""
        for key, value in state.items():
            setattr(self, key, value[()] if value.ndim == 0 else value)
        self.n_features_in_ = int(self.n_features_in_)
        self._restore()
        return self

    def _restore(self) -> None:
        """Rebuild derived, non-array state (an index) after :meth:`set_state`."""


def register(cls: S) -> S:
    """Class decorator: make a scorer available to :func:`get_scorer` under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def get_scorer(name: str, **params: Any) -> BaseScorer:
    """Create the scorer registered as ``name`` with ``params``."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown scorer {name!r}; available: {', '.join(available_scorers())}"
        ) from None
    return construct(cls, "scorer", name, params)


def available_scorers() -> list[str]:
    """Names of every registered scorer."""
    return sorted(_REGISTRY)


def batched(n: int, batch_size: int) -> Iterator[slice]:
    """Yield slices covering ``range(n)`` in chunks of ``batch_size`` rows."""
    return (slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size))


def l2_normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); zero rows stay zero."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0).astype(np.float32, copy=False)
