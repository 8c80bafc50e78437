"""Old home of the crash-safe file primitives, now :mod:`fmood.utils.atomic`.

Re-exported so existing imports keep working; new code imports :mod:`fmood.utils.atomic`.
"""

from fmood.utils.atomic import (
    OUTPUTS_LEDGER,
    check_replaceable_directory,
    exclusive_lock,
    fsync_dir,
    fsync_file,
    staged_directory,
    temp_file,
    write_atomic,
    write_bytes_atomic,
)

__all__ = [
    "OUTPUTS_LEDGER",
    "check_replaceable_directory",
    "exclusive_lock",
    "fsync_dir",
    "fsync_file",
    "staged_directory",
    "temp_file",
    "write_atomic",
    "write_bytes_atomic",
]
