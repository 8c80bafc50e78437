import fcntl
import os

import pytest

from fmood.store.atomic import (
    exclusive_lock,
    staged_directory,
    temp_path,
    write_atomic,
    write_bytes_atomic,
)


def test_write_bytes_atomic_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.json"
    write_bytes_atomic(target, b"old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert not temp_path(target).exists()


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "f.json"
    target.write_bytes(b"old")

    def half_then_crash(tmp):
        tmp.write_bytes(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(target, half_then_crash)
    assert target.read_bytes() == b"old"


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
    with pytest.raises(RuntimeError):
        with staged_directory(final) as stage:
            (stage / "a.txt").write_text("two")
            raise RuntimeError("killed mid-write")
    assert (final / "a.txt").read_text() == "one"
    with staged_directory(final) as stage:
        (stage / "b.txt").write_text("three")
    assert sorted(p.name for p in final.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
