"""fmood.progress: what a log and a terminal show while a stage runs."""

from __future__ import annotations

import io

from fmood.progress import Progress, stage_line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_every_ten_seconds_or_five_percent():
    out, clock = io.StringIO(), Clock()
    progress = Progress("embedding", 1000, stream=out, clock=clock)
    for _ in range(10):  # 1% each, 3 s apart: a line every 10 s, not every update
        clock.now += 3
        progress.update(10, images=20)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # at 12 s and 24 s
    assert lines[0] == "embedding: 40/1000 files (4%), 80 images, 6.7 images/s, about 4:48 left"
    out.truncate(0), out.seek(0)
    progress.update(60, images=120)  # 6% at once: a line now
    progress.close()
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("embedding: 160/1000 files (16%)")
    assert lines[1] == "embedding: 160/1000 files (16%), 320 images, 10.7 images/s, in 0:30"
    assert len(lines) == 2


def test_time_left_ignores_skipped_and_failed_files():
    out, clock = io.StringIO(), Clock()
    progress = Progress("embedding", 100, stream=out, clock=clock)
    clock.now = 1
    progress.update(skipped=50)
    progress.update(5)  # failed: no images
    assert out.getvalue().splitlines()[-1].endswith("0:01 so far")
    clock.now = 11
    progress.update(5, images=5)
    assert out.getvalue().splitlines()[-1] == (
        "embedding: 60/100 files (60%), 50 already done, 5 images, 0.5 images/s, about 1:28 left"
    )


def test_terminal_redraws_one_line_and_quiet_writes_nothing():
    term, clock = Terminal(), Clock()
    with Progress("embedding", 10, stream=term, clock=clock) as progress:
        clock.now = 1
        progress.update(1, images=1)
    assert term.getvalue().startswith("\rembedding: 1/10 files (10%)")
    assert term.getvalue().endswith("in 0:01\x1b[K\n")
    quiet = io.StringIO()
    with Progress("embedding", 10, stream=quiet, enabled=False) as progress:
        progress.update(10, images=10)
    stage_line("fmood report: 1/3", enabled=False, stream=quiet)
    assert quiet.getvalue() == ""
