from __future__ import annotations

import os

import pytest

from fmood.cli.outputs import check_writable, write_text_atomic
from fmood.errors import InvalidInputError


def test_check_writable_accepts_new_nested_paths(tmp_path):
    assert check_writable(tmp_path / "a" / "b.csv", "--out") == tmp_path / "a" / "b.csv"
    assert check_writable(tmp_path / "det", "--out", directory=True) == tmp_path / "det"


def test_check_writable_refuses_a_path_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="file is a file"):
        check_writable(tmp_path / "file" / "scores.csv", "--out")


def test_check_writable_refuses_the_wrong_kind(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="is a directory; give a file path"):
        check_writable(tmp_path, "--out")
    with pytest.raises(InvalidInputError, match="is a file; give a directory path"):
        check_writable(tmp_path / "file", "--out", directory=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_check_writable_refuses_a_read_only_directory(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            check_writable(tmp_path / "scores.csv", "--out")
    finally:
        tmp_path.chmod(0o700)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "scores.csv"
    target.write_text("old\n")

    def half_then_fail(f):
        f.write("new, half written")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_text_atomic(target, half_then_fail)
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["scores.csv"]
    write_text_atomic(target, lambda f: f.write("new\n"))
    assert target.read_text() == "new\n" and os.listdir(tmp_path) == ["scores.csv"]
