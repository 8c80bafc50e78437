import fcntl
import os
import stat

import pytest

from fmood.errors import OutputConflictError
from fmood.utils.atomic import (
    OUTPUTS_LEDGER,
    current_umask,
    exclusive_lock,
    make_shared,
    staged_directory,
    write_atomic,
    write_bytes_atomic,
)


def test_write_bytes_atomic_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.json"
    write_bytes_atomic(target, b"old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "f.json"
    target.write_bytes(b"old")

    def half_then_crash(tmp):
        tmp.write_bytes(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(target, half_then_crash)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temporary file left


def test_planted_symlink_at_the_old_temp_name_is_not_followed(tmp_path):
    """Regression: writes went to the fixed name ``<final>.tmp``, following a planted link."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "out.csv"
    for name in ("out.csv.tmp", ".out.csv.tmp"):
        (tmp_path / name).symlink_to(victim)
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert victim.read_text() == "precious"


def test_lock_refuses_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".lock").symlink_to(victim)
    with pytest.raises(OSError), exclusive_lock(tmp_path / ".lock"):
        pass
    assert victim.read_text() == "precious"


def test_lock_is_exclusive_and_released(tmp_path):
    lock = tmp_path / ".lock"
    with exclusive_lock(lock):
        fd = os.open(lock, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
    finally:
        os.close(fd)


def test_staged_directory_swaps_whole_or_not_at_all(tmp_path):
    final = tmp_path / "out"
    with staged_directory(final) as stage:
        (stage / "a.txt").write_text("one")
    with pytest.raises(RuntimeError), staged_directory(final) as stage:
        (stage / "a.txt").write_text("two")
        raise RuntimeError("killed mid-write")
    assert (final / "a.txt").read_text() == "one"
    with staged_directory(final) as stage:
        (stage / "b.txt").write_text("three")
    assert sorted(p.name for p in final.iterdir()) == [OUTPUTS_LEDGER, "b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_directory_refuses_a_folder_fmood_did_not_write(tmp_path):
    """Regression: an out dir holding only a look-alike summary.json was wiped."""
    final = tmp_path / "out"
    final.mkdir()
    (final / "summary.json").write_text('{"format": "fmood.report"}')
    with (
        pytest.raises(OutputConflictError, match="summary.json"),
        staged_directory(final) as stage,
    ):
        (stage / "report.html").write_text("x")
    assert (final / "summary.json").read_text() == '{"format": "fmood.report"}'
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging left behind


def test_staged_directory_replaces_its_own_output_but_not_a_file_added_to_it(tmp_path):
    final = tmp_path / "out"
    with staged_directory(final) as stage:
        (stage / "a.csv").write_text("1")
    with staged_directory(final) as stage:  # its own earlier output: replaced
        (stage / "a.csv").write_text("2")
    assert (final / "a.csv").read_text() == "2"
    (final / "notes.txt").write_text("mine")
    with (
        pytest.raises(OutputConflictError, match="notes.txt"),
        staged_directory(final) as stage,
    ):
        (stage / "a.csv").write_text("3")
    assert (final / "notes.txt").read_text() == "mine"
    assert (final / "a.csv").read_text() == "2"


def test_make_shared_gives_a_staging_directory_the_mode_of_a_plain_mkdir(tmp_path):
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027  # reading it left it in place
        with staged_directory(tmp_path / "out") as staging:
            assert stat.S_IMODE(staging.stat().st_mode) == 0o700  # mkdtemp: owner only
            make_shared(staging)
        assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o750
    finally:
        os.umask(old)
