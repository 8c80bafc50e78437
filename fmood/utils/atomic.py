"""Crash-safe file primitives: durable writes, atomic replacement, the writer lock.

Feature stores, detectors, reports and datasets are written only through these, so a
process killed at any instant leaves every file either in its old state or its new one,
never half-written under its final name.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fmood.errors import OutputConflictError

#: Suffix of every temporary file and staging directory made here, so a writer that finds
#: one left by a killed process knows it for a leftover.
TMP_SUFFIX = ".tmp"


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


def temp_file(final: Path) -> Path:
    """Create a new, empty temporary file beside ``final`` and return its path.

    The name is unique and the file is created with ``O_EXCL`` (``tempfile.mkstemp``), so
    a file or symlink planted under a predictable name is never followed or overwritten.
    It ends in :data:`TMP_SUFFIX`, so a store writer recognises it as a leftover.
    """
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=TMP_SUFFIX, dir=final.parent)
    os.close(fd)
    return Path(name)


def write_atomic(final: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` to fill a temporary file, fsync it, then rename it to ``final``.

    Readers see either the previous ``final`` or the complete new one; a ``write`` that
    raises leaves ``final`` as it was and no temporary file.
    """
    tmp = temp_file(final)
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)


def write_bytes_atomic(final: Path, data: bytes) -> None:
    """:func:`write_atomic` for an in-memory payload."""
    write_atomic(final, lambda tmp: tmp.write_bytes(data))


@contextmanager
def exclusive_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created if needed) for the block.

    The kernel drops the lock when its holder dies, so a killed writer never wedges a store.
    """
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


#: Written into every directory :func:`staged_directory` makes: the names fmood put there.
OUTPUTS_LEDGER = ".fmood-outputs.json"


def check_replaceable_directory(final: Path) -> None:
    """Refuse to replace ``final`` unless it is missing, empty, or holds only what fmood wrote.

    What fmood wrote is what the directory's :data:`OUTPUTS_LEDGER` lists; a directory
    without a ledger (a user's folder, or one holding only a look-alike ``summary.json``)
    or with any entry the ledger does not list is refused, so nothing of the user's is lost.

    Raises
    ------
    OutputConflictError
        ``final`` is a file, or holds entries fmood did not write.
    """
    final = Path(final)
    if not final.exists() and not final.is_symlink():
        return
    if final.is_symlink() or not final.is_dir():
        raise OutputConflictError(
            f"{final}: exists and is not a directory fmood wrote; give a new or empty directory"
        )
    entries = set(os.listdir(final))
    if not entries:
        return
    try:
        listed = set(json.loads((final / OUTPUTS_LEDGER).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = None
    foreign = sorted(entries - {OUTPUTS_LEDGER} - (listed or set()))
    if listed is None or foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise OutputConflictError(
            f"{final}: holds files fmood did not write ({shown}); it would be replaced whole, "
            "so give a new or empty directory, or move those files out"
        )


@contextmanager
def staged_directory(final: Path) -> Iterator[Path]:
    """Yield an empty sibling directory to fill; on success it replaces ``final`` whole.

    ``final`` must be missing, empty, or an earlier output of fmood holding nothing else
    (:func:`check_replaceable_directory`, checked before and again at the swap). A ledger
    of what the block wrote is added, so a later run may replace it.

    An exception inside the block removes the staging directory and leaves ``final`` as it
    was. The swap renames the old ``final`` aside, renames the new one in, then deletes the
    old one, so ``final`` is always either the complete old or the complete new directory.
    """
    final = Path(final)
    check_replaceable_directory(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=TMP_SUFFIX, dir=final.parent))
    try:
        yield staging
        ledger = json.dumps({"files": sorted(os.listdir(staging))}, indent=1).encode()
        write_bytes_atomic(staging / OUTPUTS_LEDGER, ledger)
        fsync_dir(staging)
        check_replaceable_directory(final)
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


def current_umask() -> int:
    """The process's file-mode creation mask (reading it means setting it, so it is put back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_shared(directory: Path) -> None:
    """Give ``directory`` the mode a plain ``mkdir`` would have (``0o777`` less the umask).

    :func:`staged_directory` makes its staging directory owner-only (``mkdtemp``); call this
    on it when the output is meant to be read by others, like a report.
    """
    directory.chmod(0o777 & ~current_umask())
