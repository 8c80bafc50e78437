"""The contract every scorer follows, and the registry that finds scorers by name."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from fmood._validation import (
    check_embeddings,
    check_is_fitted,
    check_per_sample,
    check_positive_int,
)
from fmood.errors import InvalidInputError

_REGISTRY: dict[str, type[BaseScorer]] = {}
S = TypeVar("S", bound=type["BaseScorer"])
T = TypeVar("T")

#: Rows scored per chunk: bounds the temporary (chunk, d) and (chunk, m) matrices.
DEFAULT_BATCH_SIZE = 4096

#: Expected form of each fitted-state array: name -> (accepted dtype kinds, shape). A shape
#: entry is a fixed size or the name of a size that must agree across arrays; the value of an
#: integer scalar in the state (``n_features_in_``) is a size of that name.
StateSpec = dict[str, tuple[str, tuple[int | str, ...]]]
#: Shape-entry name of the fitted feature count.
FEATURES = "n_features_in_"
_KIND_NAMES = {"f": "float", "i": "integer", "u": "unsigned integer", "b": "bool", "U": "string"}


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


def check_params(cls: type, params: dict[str, Any]) -> None:
    """Raise :class:`InvalidInputError` unless each of ``params`` has its annotated type in ``cls``.

    For parameters read from a file: an int is accepted for a float, a bool never for an int.
    """
    hints = typing.get_type_hints(cls.__init__)
    for name, value in params.items():
        hint = hints.get(name)
        if hint is None:
            continue
        allowed = typing.get_args(hint) or (hint,)
        declared = tuple(a for a in allowed if isinstance(a, type)) or (object,)
        allowed = declared
        if float in allowed:
            allowed += (int, np.floating)
        if int in allowed:
            allowed += (np.integer,)
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in declared)
        if not ok:
            expected = " or ".join("None" if a is type(None) else a.__name__ for a in declared)
            raise InvalidInputError(
                f"parameter {name!r} of {cls.__name__} must be {expected}, got {value!r}"
            )


def check_state(
    state: dict[str, Any], spec: StateSpec, owner: str, sizes: dict[str, int] | None = None
) -> dict[str, int]:
    """Check that ``state`` holds exactly the arrays of ``spec``, with their dtypes and shapes.

    Floating arrays must be finite and integer scalars (counts) positive. ``sizes`` gives
    named sizes known in advance. Returns every size bound by name. Raises
    :class:`InvalidInputError` naming ``owner`` and the array.
    """
    missing, extra = sorted(set(spec) - set(state)), sorted(set(state) - set(spec))
    if missing or extra:
        parts = [f"missing array(s) {', '.join(missing)}"] if missing else []
        parts += [f"unexpected array(s) {', '.join(extra)}"] if extra else []
        raise InvalidInputError(f"{owner} state: {'; '.join(parts)}")
    arrays = {key: np.asarray(state[key]) for key in spec}
    for key, (kinds, _) in spec.items():
        if arrays[key].dtype.kind not in kinds:
            expected = " or ".join(_KIND_NAMES[k] for k in kinds)
            raise InvalidInputError(
                f"{owner} state: {key} has dtype {arrays[key].dtype}, expected {expected}"
            )
    sizes = dict(sizes or {})
    for key, (kinds, shape) in spec.items():
        if shape == () and arrays[key].ndim == 0 and kinds == "iu":
            if arrays[key] < 1 or sizes.get(key, arrays[key]) != arrays[key]:
                expected = sizes.get(key, ">= 1")
                raise InvalidInputError(
                    f"{owner} state: {key} is {arrays[key]}, expected {expected}"
                )
            sizes[key] = int(arrays[key])
    for key, (kinds, shape) in spec.items():
        array = arrays[key]
        bound = tuple(
            sizes.setdefault(s, n) if isinstance(s, str) else s for s, n in zip(shape, array.shape)
        )
        if array.ndim != len(shape) or array.shape != bound or 0 in array.shape:
            wanted = ", ".join(f"{s}={sizes[s]}" if s in sizes else str(s) for s in shape)
            empty = ", with no empty axis" if 0 in array.shape else ""
            raise InvalidInputError(
                f"{owner} state: {key} has shape {array.shape}, expected ({wanted}){empty}"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InvalidInputError(f"{owner} state: {key} holds NaN or infinite values")
    return sizes


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

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> BaseScorer:
        """Fit on in-distribution embeddings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Class labels; used by scorers with ``uses_labels``, ignored by the others.
        """
        X = check_embeddings(X, "X")
        labels = check_per_sample(y, X.shape[0], "y") if self.uses_labels else None
        self._forget()
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

    def set_state(self, state: dict[str, np.ndarray]) -> BaseScorer:
        """Restore what :meth:`get_state` returned; returns self.

        Raises :class:`InvalidInputError` when an array is missing, unexpected, or of the wrong
        dtype or shape, or holds non-finite values (a damaged or tampered file).
        """
        check_params(type(self), self.get_params())
        check_state(state, self._state_spec(state), f"scorer {self.name!r}")
        self._forget()
        for key, value in state.items():
            setattr(self, key, value[()] if value.ndim == 0 else value)
        self.n_features_in_ = int(self.n_features_in_)
        self._restore()
        return self

    def _forget(self) -> None:
        """Drop fitted state, so a refit in another form leaves no stale array behind."""
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, key)

    def _state_spec(self, state: dict[str, np.ndarray]) -> StateSpec:
        """The arrays :meth:`set_state` expects (``state`` tells apart alternative layouts)."""
        raise NotImplementedError

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
    batch_size = check_positive_int(batch_size, "batch_size")
    return (slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size))


def l2_normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); zero rows stay zero."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0).astype(np.float32, copy=False)
