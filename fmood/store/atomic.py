"""Crash-safe file primitives: durable writes, atomic replacement, the writer lock.

A store changes only through these, so a process killed at any instant leaves every
file either in its old state or its new one, never half-written under its final name.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from fmood.store.layout import TMP_SUFFIX


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries, so a rename into it survives a power loss."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(final: Path) -> Path:
    """The temporary name ``final`` is written under before it is renamed into place."""
    return final.with_name(final.name + TMP_SUFFIX)


def write_atomic(final: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` to fill a temporary file, fsync it, then rename it to ``final``.

    Readers see either the previous ``final`` or the complete new one.
    """
    tmp = temp_path(final)
    write(tmp)
    fsync_file(tmp)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def write_bytes_atomic(final: Path, data: bytes) -> None:
    """:func:`write_atomic` for an in-memory payload."""
    write_atomic(final, lambda tmp: tmp.write_bytes(data))


@contextmanager
def exclusive_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created if needed) for the block.

    The kernel drops the lock when its holder dies, so a killed writer never wedges a store.
    """
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@contextmanager
def staged_directory(final: Path) -> Iterator[Path]:
    """Yield an empty sibling directory to fill; on success it replaces ``final`` whole.

    An exception inside the block removes the staging directory and leaves ``final`` as it
    was. The swap renames the old ``final`` aside, renames the new one in, then deletes the
    old one, so ``final`` is always either the complete old or the complete new directory.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=TMP_SUFFIX, dir=final.parent))
    try:
        yield staging
        fsync_dir(staging)
        aside = None
        if final.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
            os.replace(final, aside / final.name)
        os.replace(staging, final)
        fsync_dir(final.parent)
        if aside is not None:
            shutil.rmtree(aside)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
