"""Safe .npy reading: the header is checked against the file, nothing is unpickled."""

from __future__ import annotations

import numpy as np
import pytest

from fmood.errors import InvalidInputError
from fmood.io.arrays import REAL_KINDS, TEXT_KINDS, open_npy, read_npy


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)),
        np.arange(6, dtype=">f8").reshape(2, 3),
        np.array([[True, False]]),
        np.zeros((0, 5), dtype=np.float32),
    ],
)
@pytest.mark.parametrize("mmap", [False, True])
def test_round_trip_as_numpy_reads_it(tmp_path, array, mmap):
    path = tmp_path / "a.npy"
    np.save(path, array)
    read = read_npy(path, mmap=mmap)
    np.testing.assert_array_equal(read, np.load(path))
    assert read.dtype == array.dtype


def test_version_2_header_and_text(tmp_path):
    path = tmp_path / "v2.npy"
    array = np.array(["a", "bb"])
    with open(path, "wb") as handle:
        np.lib.format.write_array(handle, array, version=(2, 0))
    np.testing.assert_array_equal(read_npy(path, kinds=REAL_KINDS + TEXT_KINDS), array)
    with pytest.raises(InvalidInputError, match=r"v2.npy: dtype <U2 is not accepted"):
        read_npy(path)


def test_open_npy_maps_without_reading(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(20, dtype=np.float64).reshape(5, 4))
    mapped = open_npy(path)
    assert isinstance(mapped, np.memmap) and mapped.shape == (5, 4) and mapped.dtype == np.float64
    assert not mapped.flags.writeable
    np.testing.assert_array_equal(mapped[2:4], np.arange(8, 16).reshape(2, 4))


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: np.save(p, np.zeros(3)), r"must be 2-D \(n, dim\), got shape \(3,\)"),
        (lambda p: np.save(p, np.zeros((3, 0))), "0 dimensions"),
        (lambda p: np.save(p, np.zeros((2, 2), dtype=np.complex64)), "complex numbers"),
        (lambda p: np.save(p, np.zeros(2, dtype=[("a", "f4"), ("b", "f4")])), "structured"),
        (lambda p: np.save(p, np.array([None, 1]), allow_pickle=True), "Python objects"),
        (lambda p: np.save(p, np.array([["2020-01-01"]], dtype="M8[D]")), "datetime64"),
        (lambda p: p.write_bytes(np.lib.format.MAGIC_PREFIX + b"\x01"), "empty or truncated"),
        (lambda p: p.write_bytes(b""), "empty or truncated"),
        (lambda p: p.write_bytes(b"PK\x03\x04 an archive"), r"an \.npz archive"),
        (lambda p: p.write_bytes(b"\x93NUMPY\x03\x00" + bytes(100)), r"version \(3, 0\)"),
        (lambda p: _with_tail(p, b"x"), "longer than its header says"),
        (lambda p: _with_tail(p, b"", cut=1), "truncated"),
    ],
)
def test_bad_files_are_named_with_the_problem(tmp_path, write, message):
    path = tmp_path / "bad.npy"
    write(path)
    with pytest.raises(InvalidInputError, match=message) as info:
        open_npy(path)
    assert str(path) in str(info.value)


def _with_tail(path, tail: bytes, cut: int = 0) -> None:
    np.save(path, np.ones((2, 3), dtype=np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut] + tail)


def test_devices_are_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="/dev/zero: is a character device"):
        read_npy("/dev/zero")
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        read_npy(tmp_path / "nope.npy")
