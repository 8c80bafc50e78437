"""Named registries: one small class behind the scorer, baseline, distance and backbone names.

A registry maps a name (``"knn"``, ``"dinov2-base"``) to an object (a class, a factory). Unlike
timm's ``register_model``, which warns and replaces, registering a taken name raises
:class:`DuplicateNameError` unless ``overwrite=True``: a plugin that silently replaces a
built-in scorer would change every saved detector that names it.

Standard library (and fmood.errors) only, so every layer can import it.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from fmood.errors import InvalidInputError

T = TypeVar("T")


class UnknownNameError(InvalidInputError):
    """No entry is registered under a name; the message lists close matches and every name."""


class DuplicateNameError(InvalidInputError):
    """A name is registered already and ``overwrite=True`` was not passed."""


def matching(names: Iterable[str], filter: str | Iterable[str] | None = None) -> list[str]:
    """``names`` sorted, keeping those that match any fnmatch pattern of ``filter`` (all if None).

    Matching is case-sensitive on every platform (``fnmatchcase``): ``"dinov2-*"``,
    ``"*maha*"``, ``["knn", "res*"]``.
    """
    if filter is None:
        return sorted(names)
    patterns = [filter] if isinstance(filter, str) else list(filter)
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


class Registry(Generic[T]):
    """Objects by name, with refused overwrites and fnmatch listing.

    Parameters
    ----------
    kind : str
        What the entries are ("scorer", "backbone"), used in error messages.
    entries : mapping of str to object, optional
        Initial entries (the built-in ones).
    duplicate_error : type of DuplicateNameError
        Raised by :meth:`register` for a taken name; a subclass can add a domain's error
        class (a backbone's is also a :class:`~fmood.errors.BackboneError`).

    Examples
    --------
    >>> shapes = Registry("shape")
    >>> shapes.register("square", 4)
    4
    >>> shapes.names("sq*"), "circle" in shapes
    (['square'], False)
    >>> shapes.register("square", 5)
    Traceback (most recent call last):
    ...
    fmood.registry.DuplicateNameError: a shape named 'square' is registered already; pass overwrite=True to replace it
    """

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, T] | None = None,
        *,
        duplicate_error: type[DuplicateNameError] = DuplicateNameError,
    ) -> None:
        self.kind = kind
        self.duplicate_error = duplicate_error
        self._entries: dict[str, T] = {}
        for name, obj in (entries or {}).items():
            self.register(name, obj)

    def register(self, name: str, obj: T, *, overwrite: bool = False) -> T:
        """Register ``obj`` as ``name`` and return it (so it also works inside a decorator).

        Raises ``duplicate_error`` when ``name`` is taken by another object and ``overwrite`` is
        False (the same class or function defined again, as a reloaded module or a re-run
        notebook cell does, replaces its old self), and
        :class:`InvalidInputError` when ``name`` is not a non-empty string.
        """
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if (
            name in self._entries
            and not overwrite
            and not _same_definition(self._entries[name], obj)
        ):
            raise self.duplicate_error(
                f"a {self.kind} named {name!r} is registered already; "
                "pass overwrite=True to replace it"
            )
        self._entries[name] = obj
        return obj

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def get(self, name: str) -> T:
        """The object registered as ``name``; :class:`UnknownNameError` names close matches if none."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name
            pass
        close = difflib.get_close_matches(str(name), list(self._entries), n=3)
        hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}; {hint}available: {', '.join(self.names())}"
        )

    def names(self, filter: str | Iterable[str] | None = None) -> list[str]:
        """Registered names, sorted; with ``filter``, those matching any of its fnmatch patterns."""
        return matching(self._entries, filter)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


def _same_definition(old: object, new: object) -> bool:
    """Whether ``new`` is ``old`` defined again: same module and qualified name."""
    key_old = (getattr(old, "__module__", None), getattr(old, "__qualname__", None))
    key_new = (getattr(new, "__module__", None), getattr(new, "__qualname__", None))
    return None not in key_old and key_old == key_new
