from __future__ import annotations

import os

import pytest

from fmood.cli.outputs import (
    check_apart,
    check_kept_out,
    check_writable,
    overlap,
    write_text_atomic,
)
from fmood.errors import InvalidInputError, OutputConflictError


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


def test_overlap_names_how_an_output_meets_an_input(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "t.npy").write_bytes(b"x")
    os.link(tmp_path / "t.npy", tmp_path / "hard.npy")
    assert overlap(tmp_path / "t.npy", tmp_path / "t.npy") == "is"
    assert overlap(tmp_path / "store" / ".." / "t.npy", tmp_path / "t.npy") == "is"
    assert overlap(tmp_path / "hard.npy", tmp_path / "t.npy") == "is"
    assert overlap(tmp_path / "store" / "new" / "s.csv", tmp_path / "store") == "lies inside"
    assert overlap(tmp_path, tmp_path / "store") == "holds"
    assert overlap(tmp_path / "s.csv", tmp_path / "t.npy") is None
    assert overlap(tmp_path / "storex", tmp_path / "store") is None  # a prefix is not a parent


def test_check_apart_and_check_writable_refuse_an_input_and_skip_none(tmp_path):
    (tmp_path / "t.npy").write_bytes(b"x")
    check_apart(tmp_path / "s.csv", "--out", [None, tmp_path / "t.npy"])
    with pytest.raises(OutputConflictError, match="--out .*t.npy is the input .*t.npy"):
        check_writable(tmp_path / "t.npy", "--out", inputs=[tmp_path / "t.npy"])
    assert (tmp_path / "t.npy").read_bytes() == b"x"


def test_check_kept_out_refuses_a_kept_directory_inside_a_replaced_one(tmp_path):
    check_kept_out(tmp_path / "embeddings", "--store-root", tmp_path / "report", "--out")
    check_kept_out(tmp_path, "--store-root", tmp_path / "report", "--out")
    with pytest.raises(OutputConflictError, match="--store-root .* lies inside --out"):
        check_kept_out(tmp_path / "report" / "emb", "--store-root", tmp_path / "report", "--out")
