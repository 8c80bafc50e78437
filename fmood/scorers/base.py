"""The contract every scorer follows (:class:`BaseScorer`), and the registry of scorers by name."""

from __future__ import annotations

import typing
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator

from fmood._validation import (
    check_embeddings,
    check_is_fitted,
    check_per_sample,
    check_positive_int,
)
from fmood.errors import InvalidInputError
from fmood.registry import Registry

S = TypeVar("S", bound=type["BaseScorer"])
E = TypeVar("E", bound=BaseEstimator)

#: Rows scored per chunk: bounds the temporary (chunk, d) and (chunk, m) matrices.
DEFAULT_BATCH_SIZE = 4096

#: Expected form of each fitted-state array: name -> (accepted dtype kinds, shape). A shape
#: entry is a fixed size or the name of a size that must agree across arrays; the value of an
#: integer scalar in the state (``n_features_in_``) is a size of that name.
StateSpec = dict[str, tuple[str, tuple[int | str, ...]]]
#: Shape-entry name of the fitted feature count.
FEATURES = "n_features_in_"
_KIND_NAMES = {"f": "float", "i": "integer", "u": "unsigned integer", "b": "bool", "U": "string"}


def check_params(cls: type[Any], params: dict[str, Any]) -> None:
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
                want = sizes.get(key, ">= 1")
                raise InvalidInputError(f"{owner} state: {key} is {arrays[key]}, expected {want}")
            sizes[key] = int(arrays[key])
    for key, (_, shape) in spec.items():
        array = arrays[key]
        # zip stops at the shorter: a wrong number of axes is reported just below.
        bound = tuple(
            sizes.setdefault(s, n) if isinstance(s, str) else s
            for s, n in zip(shape, array.shape, strict=False)
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


class BaseScorer(BaseEstimator, ABC):
    """The contract of every OOD scorer on embeddings: ``fit(X, y=None)``, then ``score_samples(X)``.

    ``score_samples`` gives one float64 per row, **higher = more OOD**. This is the opposite
    sign of scikit-learn's outlier detectors (``LocalOutlierFactor``, ``IsolationForest``),
    whose ``score_samples`` is higher = more normal: negate it to compare the two. ``score(X)``
    is the same method under fmood's own name (a score is higher for more OOD everywhere in
    fmood); unlike scikit-learn's ``score(X, y)`` it returns one value per row.

    A subclass sets ``name`` and ``reference`` (the paper the score comes from), stores its
    constructor arguments verbatim (``get_params``, ``set_params`` and ``sklearn.base.clone``
    come from :class:`sklearn.base.BaseEstimator`), validates them in ``fit`` and keeps what
    ``fit`` learns in attributes ending in ``_``. Fitted state is a dict of arrays
    (:meth:`get_state`), so a scorer is saved as ``.npz`` and restored without pickle.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen by ``fit``; every subclass sets it.

    See Also
    --------
    fmood.calibration.detector.OODDetector : p-values and an OOD degree on top of raw scores.
    fmood.registry.Registry : the registry behind :func:`get_scorer`.
    """

    name: ClassVar[str]
    reference: ClassVar[str]
    #: Whether ``fit`` uses class labels ``y`` when given.
    uses_labels: ClassVar[bool] = False
    n_features_in_: int

    @abstractmethod
    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> BaseScorer:
        """Fit on in-distribution embeddings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Class labels; used by scorers with ``uses_labels``, ignored by the others.

        Returns
        -------
        self
        """

    @abstractmethod
    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Raw OOD score of each row of ``X``, higher = more OOD.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), float64
        """

    def score(self, X: ArrayLike, y: ArrayLike | None = None) -> np.ndarray:
        """:meth:`score_samples` under fmood's name: shape (n_samples,), higher = more OOD.

        ``y`` is ignored; it is there so that a Pipeline ending in a scorer can call it.
        """
        return self.score_samples(X)

    def _validate_fit_data(
        self, X: ArrayLike, y: ArrayLike | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``X`` as float32 (n_samples, n_features) and the labels if this scorer uses them.

        Drops the previous fit's state once the input is valid, so a refit in another form
        (covariance or Gram) leaves no stale array behind.
        """
        X = check_embeddings(X, "X")
        labels = check_per_sample(y, X.shape[0], "y") if self.uses_labels else None
        self._forget()
        return X, labels

    def _validate_score_data(self, X: ArrayLike) -> np.ndarray:
        """``X`` as float32 (n_samples, n_features_in_), after checking that ``fit`` ran."""
        check_is_fitted(self, "n_features_in_")
        return check_embeddings(X, "X", dim=self.n_features_in_)

    # -- persistence -----------------------------------------------------------------
    #: Private attributes that :meth:`_restore` rebuilds from the fitted state (a FAISS index):
    #: left out of a pickle, which then never holds a SWIG object.
    _caches: ClassVar[tuple[str, ...]] = ()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: on Python >= 3.11 it is the live __dict__
        for key in self._caches:
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if hasattr(self, "n_features_in_"):
            self._restore()

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
        check_params(type(self), self.get_params(deep=False))
        check_state(state, self._state_spec(state), f"scorer {self.name!r}")
        self._forget()
        for key, value in state.items():
            setattr(self, key, value[()] if value.ndim == 0 else value)
        self.n_features_in_ = int(self.n_features_in_)
        self._restore()
        return self

    def _forget(self) -> None:
        """Drop fitted state (every public attribute ending in ``_``)."""
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, key)

    def _state_spec(self, state: dict[str, np.ndarray]) -> StateSpec:
        """The arrays :meth:`set_state` expects (``state`` tells apart alternative layouts)."""
        raise NotImplementedError

    def _restore(self) -> None:
        """Rebuild derived, non-array state (an index) after :meth:`set_state`."""


#: Every scorer by name; :func:`register` adds to it.
SCORERS: Registry[type[BaseScorer]] = Registry("scorer")


def register(cls: S, *, overwrite: bool = False) -> S:
    """Class decorator: make a scorer available to :func:`get_scorer` under ``cls.name``.

    A name that is taken raises :class:`~fmood.registry.DuplicateNameError`; replace a
    scorer on purpose with ``register(MyScorer, overwrite=True)``.
    """
    SCORERS.register(cls.name, cls, overwrite=overwrite)
    return cls


def construct(cls: type[E], kind: str, name: str, params: dict[str, Any]) -> E:
    """``cls(**params)``, after checking that ``cls`` takes every name in ``params``.

    ``kind`` and ``name`` ("scorer", "knn") name it in the error message.
    """
    valid = sorted(cls._get_param_names())
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise InvalidInputError(
            f"{kind} {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are: {', '.join(valid) or '(none)'}"
        )
    return cls(**params)


def get_scorer(name: str, **params: Any) -> BaseScorer:
    """Create the scorer registered as ``name`` with ``params``.

    An unknown name raises :class:`~fmood.registry.UnknownNameError` (an
    :class:`InvalidInputError`) listing close matches and every scorer.
    """
    return construct(SCORERS.get(name), "scorer", name, params)


def list_scorers(filter: str | Iterable[str] | None = None) -> list[str]:
    """Names of the registered scorers, sorted; ``filter``: fnmatch pattern(s), e.g. ``"*maha*"``."""
    return SCORERS.names(filter)


def is_scorer(name: str) -> bool:
    """Whether a scorer is registered as ``name``."""
    return name in SCORERS


def available_scorers() -> list[str]:
    """Names of every registered scorer (:func:`list_scorers` without a filter)."""
    return list_scorers()


def batched(n: int, batch_size: int) -> Iterator[slice]:
    """Yield slices covering ``range(n)`` in chunks of ``batch_size`` rows."""
    batch_size = check_positive_int(batch_size, "batch_size")
    return (slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size))


def l2_normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); zero rows stay zero."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0).astype(np.float32, copy=False)
