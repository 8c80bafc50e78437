"""One honest progress line per stage: done/total, images, images/s and time left.

On a terminal the line is redrawn in place (at most a few times a second); elsewhere (a log
file, CI, a notebook's captured stderr) a plain line is written every :data:`EVERY_SECONDS`
or every :data:`EVERY_SHARE` of the total, whichever comes first, and one at the end. Nothing
is counted as done before it is: callers report finished work, not work handed on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

#: Plain (non-terminal) lines: at most one every this many seconds...
EVERY_SECONDS = 10.0
#: ...unless this share of the total was done since the last one.
EVERY_SHARE = 0.05
#: Terminal redraws: at most one every this many seconds.
REDRAW_SECONDS = 0.2


class Progress:
    """Progress of one stage over ``total`` units (files), with images counted beside them.

    Parameters
    ----------
    stage : str
        What is being done (``"embedding"``), the start of every line.
    total : int
        Units (files) in the stage.
    unit : str
        Name of a unit, plural (``"files"``).
    enabled : bool
        False writes nothing (``--quiet``).
    stream : text file, optional
        Where lines go; default ``sys.stderr``. A terminal gets one line redrawn in place.
    clock : callable, optional
        Seconds as a float (default :func:`time.monotonic`); tests pass a fake one.

    ``skipped`` units (already done by an earlier run) count as done; the time left is
    estimated from the units that gave images in this run (not from skipped or failed ones,
    which take no time), and not shown before there is one.
    """

    def __init__(
        self,
        stage: str,
        total: int,
        *,
        unit: str = "files",
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stage = stage
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.done = 0
        self.skipped = 0
        self.images = 0
        self.worked = 0  # units that gave images: the basis of the time left
        self.started = clock()
        self._last_time = self.started
        self._last_done = 0
        self._closed = False
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty())

    def update(self, done: int = 0, *, skipped: int = 0, images: int = 0) -> None:
        """Count ``done`` more finished units (``skipped`` of them skipped) and ``images``."""
        self.done += done + skipped
        self.skipped += skipped
        self.images += images
        self.worked += done if images else 0
        now = self.clock()
        if self.terminal:
            due = now - self._last_time >= REDRAW_SECONDS
        else:
            share = (self.done - self._last_done) / max(self.total, 1)
            due = now - self._last_time >= EVERY_SECONDS or share >= EVERY_SHARE
        if due and self.done < self.total:
            self._write(self.line(now))
            self._last_time, self._last_done = now, self.done

    def close(self) -> None:
        """Write the final line (once): what was done, in how long, at what rate."""
        if self._closed:
            return
        self._closed = True
        self._write(self.line(self.clock(), final=True))
        if self.enabled and self.terminal:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self, now: float, final: bool = False) -> str:
        """``embedding: 120/500 files (24%), 380 images, 12.3 images/s, about 0:31 left``."""
        elapsed = max(now - self.started, 1e-9)
        share = self.done / self.total if self.total else 1.0
        parts = [f"{self.stage}: {self.done}/{self.total} {self.unit} ({share:.0%})"]
        if self.skipped:
            parts.append(f"{self.skipped} already done")
        parts.append(f"{self.images} images, {self.images / elapsed:.1f} images/s")
        if final:
            parts.append(f"in {_clock(elapsed)}")
        else:
            if self.worked:
                left = (self.total - self.done) * elapsed / self.worked
                parts.append(f"about {_clock(left)} left")
            else:
                parts.append(f"{_clock(elapsed)} so far")
        return ", ".join(parts)

    def _write(self, text: str) -> None:
        if not self.enabled:
            return
        if self.terminal:
            self.stream.write("\r" + text + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def stage_line(text: str, *, enabled: bool = True, stream: TextIO | None = None) -> None:
    """Write one plain line announcing a stage (``"fmood report: 1/3 embedding reference"``)."""
    if enabled:
        out = sys.stderr if stream is None else stream
        out.write(text + "\n")
        out.flush()


def _clock(seconds: float) -> str:
    """``75.2`` -> ``"1:15"``; ``3725`` -> ``"1:02:05"``."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
