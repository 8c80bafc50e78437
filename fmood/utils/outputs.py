"""The output-directory guard: refuse, before any work, a directory fmood may not replace."""

from __future__ import annotations

from pathlib import Path

from fmood.utils.atomic import check_replaceable_directory


def check_out_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path, after checking that replacing it destroys nothing of the user's.

    It must be missing, empty, or an earlier output of fmood holding nothing else
    (:func:`fmood.utils.atomic.check_replaceable_directory`); checked before the work, so a
    refused directory costs no embedding or fitting.

    Raises
    ------
    OutputConflictError
        ``out_dir`` is a file, or holds files fmood did not write.
    """
    out = Path(out_dir)
    check_replaceable_directory(out)
    return out
