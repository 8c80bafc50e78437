"""The manifest: the single JSON file whose atomic replacement commits a store change.

It also records a size and SHA-256 for every data file (:class:`Checksums`), so that a
swapped, truncated or edited file is found: sizes on every open, hashes by
``FeatureStore.verify``. ``vectors.f32`` is appended to, so rehashing it whole at each add
would cost O(n^2) over a store's life; instead each add records the SHA-256 of the byte
range it appended (:class:`VectorSpan`), and verify rehashes each range once. The
``checksums`` key is optional: a store written before it (format version 1 all the same)
opens, and verify says what it could not check. So is ``blocks``, the layer blocks of the
vectors (name and width of each, in concatenation order); a store without it has one block.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeGuard

from fmood._version import __version__
from fmood.errors import (
    InvalidInputError,
    NotAStoreError,
    StoreCorruptError,
    StoreError,
    StoreVersionError,
)
from fmood.store.layout import MANIFEST, is_part_name
from fmood.utils.atomic import write_bytes_atomic

# The block rules live below the store (backbones and scorers use them too); FINAL_BLOCK and
# check_blocks stay importable from here.
from fmood.utils.blocks import FINAL_BLOCK as FINAL_BLOCK
from fmood.utils.blocks import Blocks, check_blocks
from fmood.utils.fingerprint import Fingerprint

FORMAT_NAME = "fmood.feature_store"
FORMAT_VERSION = 1
DTYPE = "<f4"
METRICS = ("cosine", "l2")
_HOW_TO_CREATE = "create one with fmood.FeatureStore.create(path, dim=...)"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_HASH_BLOCK = 1 << 20


def sha256_of(path: Path, start: int = 0, stop: int | None = None) -> str:
    """SHA-256 of ``path``'s bytes ``[start, stop)`` (to the end when ``stop`` is None)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(start)
        left = None if stop is None else stop - start
        while left is None or left > 0:
            block = f.read(_HASH_BLOCK if left is None else min(_HASH_BLOCK, left))
            if not block:
                break
            digest.update(block)
            if left is not None:
                left -= len(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileSum:
    """Size in bytes and SHA-256 of a whole data file (a metadata part, the index)."""

    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> FileSum:
        return cls(path.stat().st_size, sha256_of(path))

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class VectorSpan:
    """Rows ``[start, stop)`` of ``vectors.f32`` appended by one add: bytes and their SHA-256.

    The byte range is recorded besides the rows, so an edited ``dim`` (rows * dim * 4 no
    longer landing on the recorded bytes) is seen without reading any data.
    """

    start: int
    stop: int
    byte_start: int
    byte_stop: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [self.start, self.stop],
            "bytes": [self.byte_start, self.byte_stop],
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> VectorSpan:
        """Inverse of :meth:`to_dict`; KeyError/TypeError/ValueError on a malformed entry."""
        start, stop = _ints(raw["rows"], 2)
        byte_start, byte_stop = _ints(raw["bytes"], 2)
        return cls(start, stop, byte_start, byte_stop, _hex(raw["sha256"]))


@dataclass(frozen=True)
class Checksums:
    """What each add wrote: its vector span, its metadata part (size, rows, hash), the index.

    Rows before ``vectors[0].start`` and parts missing from ``parts`` were written by an
    fmood that recorded no checksums; they are checked by size only.
    """

    vectors: tuple[VectorSpan, ...] = ()
    parts: tuple[tuple[str, FileSum, int], ...] = ()  # (name, size and hash, rows)
    index: FileSum | None = None

    def part(self, name: str) -> tuple[FileSum, int] | None:
        """Size, hash and row count recorded for metadata part ``name``, or None."""
        for part, total, rows in self.parts:
            if part == name:
                return total, rows
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": "sha256",
            "vectors": [span.to_dict() for span in self.vectors],
            "metadata_parts": {
                name: {**total.to_dict(), "rows": rows} for name, total, rows in self.parts
            },
            "index": None if self.index is None else self.index.to_dict(),
        }


@dataclass(frozen=True)
class Manifest:
    """What a store holds: the committed vector count, layout and identity.

    ``index_count`` is the number of vectors the persisted ANN index (``index.faiss``)
    covers, or None when no index file is part of the store (exact ``Flat`` search, or an
    ANN index not trained yet). ``blocks`` is the layer layout of the vectors, or None when
    not recorded (one block).
    """

    dim: int
    metric: str
    index: str
    fingerprint: Fingerprint | None
    count: int = 0
    metadata_parts: tuple[str, ...] = ()
    index_count: int | None = None
    created: str = field(default_factory=_now)
    fmood_version: str = __version__
    format_version: int = FORMAT_VERSION
    checksums: Checksums | None = field(default_factory=Checksums)
    blocks: Blocks | None = None

    def after_add(
        self,
        count: int,
        part: str,
        index_count: int | None,
        *,
        span: VectorSpan | None = None,
        part_sum: tuple[FileSum, int] | None = None,
        index_sum: FileSum | None = None,
    ) -> Manifest:
        """The manifest of this store once an add has brought it to ``count`` vectors.

        ``span``, ``part_sum`` (size and hash, rows) and ``index_sum`` are what the add wrote;
        a store that had no checksums starts recording them from this add on.
        """
        sums = self.checksums if self.checksums is not None else Checksums()
        sums = Checksums(
            vectors=sums.vectors + (() if span is None else (span,)),
            parts=sums.parts + (() if part_sum is None else ((part, *part_sum),)),
            index=index_sum if index_count is not None else None,
        )
        return replace(
            self,
            count=count,
            metadata_parts=(*self.metadata_parts, part),
            index_count=index_count,
            fmood_version=__version__,
            checksums=sums,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the on-disk key order."""
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "dim": self.dim,
            "count": self.count,
            "dtype": DTYPE,
            "metric": self.metric,
            "index": self.index,
            "fingerprint": None if self.fingerprint is None else self.fingerprint.to_dict(),
            "metadata_parts": list(self.metadata_parts),
            "index_count": self.index_count,
            "created": self.created,
            "fmood_version": self.fmood_version,
            "checksums": None if self.checksums is None else self.checksums.to_dict(),
            **({} if self.blocks is None else {"blocks": [list(b) for b in self.blocks]}),
        }


def read_manifest(store_dir: Path) -> Manifest:
    """Read and validate ``store_dir/manifest.json``.

    Raises
    ------
    NotAStoreError
        ``store_dir`` is missing, a file, or a directory without a manifest.
    StoreVersionError
        The manifest was written by a newer format version.
    StoreCorruptError
        The manifest is not valid JSON or lacks or mistypes a key.
    """
    if not store_dir.exists():
        raise NotAStoreError(
            f"no feature store at {store_dir}: the path does not exist; {_HOW_TO_CREATE}"
        )
    if not store_dir.is_dir():
        raise NotAStoreError(
            f"{store_dir} is a file, not a feature store directory; {_HOW_TO_CREATE}"
        )
    path = store_dir / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotAStoreError(
            f"{store_dir} is not an fmood feature store (it has no {MANIFEST}); {_HOW_TO_CREATE}"
        ) from None
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e}") from e
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise StoreCorruptError(f"{path} is not valid JSON ({e}); restore it from a backup") from e
    return _parse(raw, path)


def _parse(raw: object, path: Path) -> Manifest:
    def corrupt(what: str) -> StoreCorruptError:
        return StoreCorruptError(f"{path} is damaged: {what}; restore it from a backup")

    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise corrupt(f'it does not declare "format": "{FORMAT_NAME}"')
    version = raw.get("format_version")
    if not _is_int(version) or version < 1:
        raise corrupt(f"format_version is {version!r}, expected a positive integer")
    if version > FORMAT_VERSION:
        # Checked before the other keys: a newer format may have renamed them.
        raise StoreVersionError(
            f"{path} has store format version {version}, but this fmood ({__version__}) "
            f"reads only up to version {FORMAT_VERSION}; upgrade fmood (pip install -U fmood)"
        )
    missing = [
        k
        for k in (
            "dim",
            "count",
            "dtype",
            "metric",
            "index",
            "fingerprint",
            "metadata_parts",
            "index_count",
        )
        if k not in raw
    ]
    if missing:
        raise corrupt(f"missing key(s) {missing}")
    dim, count, index_count = raw["dim"], raw["count"], raw["index_count"]
    if not _is_int(dim) or dim < 1:
        raise corrupt(f"dim is {dim!r}, expected a positive integer")
    if not _is_int(count) or count < 0:
        raise corrupt(f"count is {count!r}, expected a non-negative integer")
    if index_count is not None and (not _is_int(index_count) or index_count < 0):
        raise corrupt(f"index_count is {index_count!r}, expected a non-negative integer or null")
    if raw["dtype"] != DTYPE:
        raise corrupt(f"dtype is {raw['dtype']!r}, expected {DTYPE!r}")
    if raw["metric"] not in METRICS:
        raise corrupt(f"metric is {raw['metric']!r}, expected one of {METRICS}")
    if not isinstance(raw["index"], str):
        raise corrupt(f"index is {raw['index']!r}, expected a FAISS index-factory string")
    parts = raw["metadata_parts"]
    if not isinstance(parts, list) or not all(is_part_name(p) for p in parts):
        raise corrupt("metadata_parts must be a list of names like part-000000.parquet")
    try:
        fp = raw["fingerprint"]
        fingerprint = None if fp is None else Fingerprint.from_dict(fp)
    except InvalidInputError as e:
        raise corrupt(f"bad fingerprint ({e})") from e
    try:
        blocks = None if raw.get("blocks") is None else check_blocks(raw["blocks"], dim)
    except InvalidInputError as e:
        raise corrupt(f"bad blocks ({e})") from e
    return Manifest(
        dim=dim,
        metric=raw["metric"],
        index=raw["index"],
        fingerprint=fingerprint,
        count=count,
        metadata_parts=tuple(parts),
        index_count=index_count,
        created=str(raw.get("created", "")),
        fmood_version=str(raw.get("fmood_version", "")),
        format_version=version,
        checksums=_parse_checksums(raw.get("checksums"), corrupt),
        blocks=blocks,
    )


def _parse_checksums(raw: Any, corrupt: Callable[[str], StoreCorruptError]) -> Checksums | None:
    """The ``checksums`` key; None when absent (a store written before it existed)."""
    if raw is None:
        return None
    try:
        spans = tuple(VectorSpan.from_dict(s) for s in raw["vectors"])
        parts = tuple(
            (name, FileSum(_ints([p["size"]], 1)[0], _hex(p["sha256"])), _ints([p["rows"]], 1)[0])
            for name, p in raw["metadata_parts"].items()
        )
        index = raw["index"]
        index_sum = (
            None if index is None else FileSum(_ints([index["size"]], 1)[0], _hex(index["sha256"]))
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise corrupt(f"bad checksums ({type(e).__name__}: {e})") from None
    if not all(is_part_name(name) for name, _, _ in parts):
        raise corrupt("checksums name a metadata part with a bad name")
    return Checksums(spans, parts, index_sum)


def _ints(values: object, n: int) -> list[int]:
    if (
        not isinstance(values, list)
        or len(values) != n
        or not all(_is_int(v) and v >= 0 for v in values)
    ):
        raise ValueError(f"expected {n} non-negative integer(s), got {values!r}")
    return values


def _hex(value: object) -> str:
    if not isinstance(value, str) or len(value) != 64 or set(value) - set("0123456789abcdef"):
        raise ValueError(f"expected a SHA-256 hex digest, got {value!r}")
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def write_manifest(store_dir: Path, manifest: Manifest) -> None:
    """Atomically replace ``store_dir/manifest.json``: the commit point of every change."""
    data = json.dumps(manifest.to_dict(), indent=2).encode("utf-8") + b"\n"
    write_bytes_atomic(store_dir / MANIFEST, data)
