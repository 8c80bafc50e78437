"""Typed errors raised by fmood.

Every error names what was wrong and, where there is one, the file involved and the fix.
"""

from __future__ import annotations


class FmoodError(Exception):
    """Base class of every error fmood raises on purpose."""


class InvalidInputError(FmoodError, ValueError):
    """An array, parameter or file content does not have the expected form."""


class NotFittedError(FmoodError, RuntimeError):
    """A method that needs fitted state was called before ``fit``."""


class StoreError(FmoodError):
    """Base class of feature-store errors."""


class NotAStoreError(StoreError, FileNotFoundError):
    """A path is not a feature store (no manifest)."""


class StoreCorruptError(StoreError):
    """A store's files are missing, truncated or inconsistent with its manifest."""


class StoreVersionError(StoreError):
    """A store was written by a newer format version than this fmood reads."""


class StoreMismatchError(StoreError, ValueError):
    """Vectors of another dimension or backbone fingerprint were offered to a store."""


class BackboneError(FmoodError):
    """A backbone name is unknown, or its code or weights could not be loaded."""


class WeightsUnavailableError(BackboneError, FileNotFoundError):
    """Weights could not be found locally or fetched (no network to the model hub)."""


class OutputConflictError(InvalidInputError):
    """An output would overwrite an input, or replace files fmood did not write."""


class MissingExtraError(FmoodError, ImportError):
    """An optional package is not installed; the message names the extra that brings it."""
