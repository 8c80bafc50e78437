"""Writing what the commands produce: checked before the work, replaced atomically."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, TextIO

from fmood.errors import InvalidInputError


def check_writable(path: str | Path, option: str, *, directory: bool = False) -> Path:
    """Fail before any work if ``path`` (given as ``option``) cannot be created or replaced."""
    path = Path(path)
    kind, other = ("directory", "file") if directory else ("file", "directory")
    if path.exists():
        if path.is_dir() != directory:
            raise InvalidInputError(f"{option} {path} is a {other}; give a {kind} path")
        parent = path if directory else path.parent
    else:
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise InvalidInputError(f"cannot write {option} {path}: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {option} {path}: {parent} is not writable")
    return path


def write_text_atomic(path: Path, write: Callable[[TextIO], None]) -> None:
    """Call ``write(f)`` on a temporary file next to ``path``, then rename it to ``path``.

    A run that fails half-way leaves any previous ``path`` as it was and no partial file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
