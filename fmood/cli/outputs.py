"""Writing what the commands produce: checked before the work, replaced atomically.

Imported when the parser is built: the store is imported inside the functions that need it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from fmood.errors import InvalidInputError, OutputConflictError

PathLike = str | os.PathLike[str]


def check_writable(
    path: PathLike, option: str, *, directory: bool = False, inputs: Iterable[PathLike | None] = ()
) -> Path:
    """Fail before any work if ``path`` (given as ``option``) cannot be created or replaced.

    ``inputs`` are the command's input files and directories: ``path`` may not be one of
    them, lie inside one, or hold one (:func:`check_apart`).
    """
    from fmood.sanitize import printable

    path = Path(path)
    kind, other = ("directory", "file") if directory else ("file", "directory")
    shown = printable(path)
    if path.exists():
        if path.is_dir() != directory:
            raise InvalidInputError(f"{option} {shown} is a {other}; give a {kind} path")
        parent = path if directory else path.parent
    else:
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise InvalidInputError(f"cannot write {option} {shown}: {printable(parent)} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {option} {shown}: {printable(parent)} is not writable")
    check_apart(path, option, inputs)
    return path


def check_apart(output: PathLike, option: str, inputs: Iterable[PathLike | None]) -> None:
    """Refuse an ``output`` that is one of ``inputs``, lies inside one, or holds one.

    Paths are compared resolved (symlinks followed), and an existing output is also compared
    with :func:`os.path.samefile`, so a hard link or a second name for an input is caught.

    Raises
    ------
    OutputConflictError
        Writing ``output`` would overwrite or delete an input, or write into an input store.
    """
    from fmood.sanitize import printable

    for given in inputs:
        if given is None:
            continue
        relation = overlap(Path(output), Path(given))
        if relation is not None:
            raise OutputConflictError(
                f"{option} {printable(output)} {relation} the input {printable(given)}; "
                "writing it would destroy the input, so give an output path outside the inputs"
            )


def check_kept_out(kept: PathLike, kept_option: str, out: PathLike, out_option: str) -> None:
    """Refuse ``kept`` (a directory the command fills and keeps) inside ``out`` (replaced whole)."""
    from fmood.sanitize import printable

    relation = overlap(Path(kept), Path(out))
    if relation in ("is", "lies inside"):
        raise OutputConflictError(
            f"{kept_option} {printable(kept)} {relation} {out_option} {printable(out)}, which is "
            f"replaced whole; give a {kept_option} outside {out_option}"
        )


def overlap(output: Path, source: Path) -> str | None:
    """How ``output`` overlaps ``source``: "is", "lies inside", "holds", or None if apart."""
    out, src = output.resolve(), source.resolve()
    if out == src or (output.exists() and source.exists() and os.path.samefile(output, source)):
        return "is"
    if src in out.parents:
        return "lies inside"
    if out in src.parents:
        return "holds"
    return None


def write_text_atomic(path: Path, write: Callable[[TextIO], None]) -> None:
    """Call ``write(f)`` on a temporary file next to ``path``, then rename it to ``path``.

    A run that fails half-way leaves any previous ``path`` as it was and no partial file.
    """
    from fmood.utils.atomic import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)

    def fill(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            write(f)

    write_atomic(path, fill)
