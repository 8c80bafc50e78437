"""Identity of the backbone that produced a set of embeddings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from fmood.errors import InvalidInputError

_FIELDS = ("name", "weights_sha256", "preprocessing")


@dataclass(frozen=True)
class Fingerprint:
    """Backbone name, weights hash and preprocessing, stored with every embedding.

    Two fingerprints are equal when all three fields are, so features from different
    backbones, weights or preprocessing never land in one store.

    Parameters
    ----------
    name : str
        Backbone name, e.g. ``"dinov2-base"``.
    weights_sha256 : str or None
        SHA-256 of the weights file, or None when unknown.
    preprocessing : str
        Canonical description of the preprocessing (resize, crop, normalisation).
    """

    name: str
    weights_sha256: str | None = None
    preprocessing: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(
                f"Fingerprint.name must be a non-empty string, got {self.name!r}"
            )
        if self.weights_sha256 is not None and not isinstance(self.weights_sha256, str):
            raise InvalidInputError(
                f"Fingerprint.weights_sha256 must be a string or None, got {self.weights_sha256!r}"
            )
        if not isinstance(self.preprocessing, str):
            raise InvalidInputError(
                f"Fingerprint.preprocessing must be a string, got {self.preprocessing!r}"
            )

    def to_dict(self) -> dict[str, str | None]:
        """Plain dict with the keys ``name``, ``weights_sha256``, ``preprocessing``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fingerprint:
        """Inverse of :meth:`to_dict`; :class:`InvalidInputError` on missing or extra keys."""
        if not isinstance(d, Mapping):
            raise InvalidInputError(f"a fingerprint must be a mapping, got {type(d).__name__}")
        missing = [k for k in ("name",) if k not in d]
        extra = sorted(set(d) - set(_FIELDS))
        if missing or extra:
            raise InvalidInputError(
                f"fingerprint keys must be {list(_FIELDS)}; missing {missing}, unexpected {extra}"
            )
        return cls(
            name=d["name"],
            weights_sha256=d.get("weights_sha256"),
            preprocessing=d.get("preprocessing", ""),
        )

    def describe(self) -> str:
        """Short human-readable form used in error messages."""
        sha = self.weights_sha256[:12] if self.weights_sha256 else "unknown"
        return f"{self.name} (weights sha256 {sha}, preprocessing {self.preprocessing!r})"


def as_fingerprint(value: Fingerprint | Mapping[str, Any] | None) -> Fingerprint | None:
    """Accept a :class:`Fingerprint`, its dict form, or None."""
    if value is None or isinstance(value, Fingerprint):
        return value
    return Fingerprint.from_dict(value)
