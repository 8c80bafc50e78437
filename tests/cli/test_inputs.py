from __future__ import annotations

import numpy as np
import pytest

from fmood.cli.inputs import load_npy, load_source, parse_rows, per_sample
from fmood.errors import InvalidInputError


def test_npy_source_is_float32_without_metadata(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(12, dtype=np.float64).reshape(4, 3))
    source = load_source(path)
    assert source.embeddings.dtype == np.float32 and source.embeddings.shape == (4, 3)
    assert source.dim == 3 and source.metadata is None


def test_store_source_has_metadata(store_dir):
    source = load_source(store_dir)
    assert source.embeddings.shape == (120, 16)
    assert list(source.metadata["path"][:2]) == ["img000.png", "img001.png"]
    assert list(source.column("site", "--domains-column")[:2]) == ["B", "A"]


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npy: no such file"):
        load_source(tmp_path / "nope.npy")


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: np.save(p, np.zeros(5)), r"must be 2-D .* got shape \(5,\)"),
        (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "holds Python objects"),
        (lambda p: p.write_text("not a numpy file at all"), "not a .npy file"),
        (lambda p: p.write_bytes(b""), "empty or truncated"),
        (lambda p: _save_npz_as(p), "an .npz archive"),
        (lambda p: np.save(p, np.array([["a", "b"]])), "must be numeric"),
        (lambda p: np.save(p, np.array([[1.0, np.nan], [1.0, 2.0]])), "NaN or infinite"),
    ],
)
def test_bad_npy_is_reported_with_its_name(tmp_path, write, message):
    path = tmp_path / "bad.npy"
    write(path)
    with pytest.raises(InvalidInputError, match=message) as info:
        load_source(path)
    assert str(path) in str(info.value)


def _save_npz_as(path):
    np.savez(path.with_suffix(".npz"), a=np.zeros(3))
    path.with_suffix(".npz").rename(path)


def test_unknown_column_lists_the_available_ones(store_dir):
    with pytest.raises(InvalidInputError, match=r"no metadata column 'hospital' .*site, patient"):
        load_source(store_dir).column("hospital", "--domains-column")


def test_column_of_a_npy_source_asks_for_a_store(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    with pytest.raises(InvalidInputError, match="needs a feature store"):
        load_source(tmp_path / "x.npy").column("site", "--domains-column")


def test_per_sample_from_a_file_checks_its_length(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 2)))
    source = load_source(tmp_path / "x.npy")
    np.save(tmp_path / "good.npy", np.array(["a", "a", "b", "b"]))
    np.save(tmp_path / "short.npy", np.array([1, 2]))
    good = per_sample(source, column=None, file=str(tmp_path / "good.npy"), option="groups")
    assert list(good) == ["a", "a", "b", "b"]
    assert per_sample(source, column=None, file=None, option="groups") is None
    with pytest.raises(InvalidInputError, match=r"one entry per embedding .* \(4\)"):
        per_sample(source, column=None, file=str(tmp_path / "short.npy"), option="groups")
    with pytest.raises(InvalidInputError, match="not both"):
        per_sample(source, column="c", file="f.npy", option="groups")


def test_load_npy_never_unpickles(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInputError, match="Python objects"):
        load_npy(path)


def test_parse_rows():
    assert parse_rows("0,5, 7", 8).tolist() == [0, 5, 7]
    with pytest.raises(InvalidInputError, match=r"\[8\] out of range"):
        parse_rows("0,8", 8)
    with pytest.raises(InvalidInputError, match="comma-separated integers"):
        parse_rows("0;5", 8)


def test_mmap_source_is_the_file_mapped_not_copied(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(12, dtype=np.float64).reshape(4, 3))
    source = load_source(path, mmap=True)
    assert isinstance(source.embeddings, np.memmap) and source.embeddings.dtype == np.float64
    assert source.dim == 3 and source.metadata is None
    np.testing.assert_array_equal(source.embeddings[1], [3.0, 4.0, 5.0])


@pytest.mark.parametrize("mmap", [False, True])
def test_complex_embeddings_are_refused(tmp_path, mmap):
    path = tmp_path / "z.npy"
    np.save(path, np.ones((4, 3), dtype=np.complex64))
    with pytest.raises(InvalidInputError, match="z.npy: it holds complex numbers"):
        load_source(path, mmap=mmap)


def test_forged_header_is_refused_before_allocating(tmp_path):
    path = tmp_path / "forged.npy"
    with open(path, "wb") as handle:
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**13,)}
        np.lib.format.write_array_header_1_0(handle, header)
    with pytest.raises(InvalidInputError, match="forged.npy: truncated"):
        load_npy(path)
