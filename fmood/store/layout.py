"""File names of a feature store directory, in one place so readers and writers agree."""

from __future__ import annotations

import re

from fmood.utils.atomic import TMP_SUFFIX as TMP_SUFFIX  # temporary files: one suffix everywhere

MANIFEST = "manifest.json"
VECTORS = "vectors.f32"
METADATA_DIR = "metadata"
INDEX = "index.faiss"
LOCK = ".lock"

_PART_RE = re.compile(r"part-\d{6,}\.parquet")


def part_name(number: int) -> str:
    """Name of the ``number``-th metadata part, e.g. ``part-000003.parquet``."""
    return f"part-{number:06d}.parquet"


def is_part_name(name: object) -> bool:
    """Whether ``name`` is a metadata part name (and so holds no path separators)."""
    return isinstance(name, str) and _PART_RE.fullmatch(name) is not None
