"""The bad-input table: every kind of broken, hostile or careless input a user may hand fmood.

Each case gives a command bad input and checks what a user must get: exit code 2 and one
line on stderr naming the file and the problem (never a traceback, never exit 1), and no
file of theirs changed. Image files that cannot be embedded are not errors: they become one
row of the failures file and the run goes on (tested at the end).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from embed.helpers import make_folder, tiny_backbone
from PIL import Image as PILImage
from synthetic import clustered

from fmood.cli.main import main
from fmood.embed import embed_dataset
from fmood.sanitize import printable
from fmood.store import FeatureStore

D = 16


def _npy(path: Path, array: np.ndarray) -> Path:
    np.save(path, array, allow_pickle=True)
    return path


def _good(path: Path, n: int = 80, seed: int = 0) -> Path:
    return _npy(path, clustered(n, d=D, seed=seed).astype(np.float32))


def _forged_header(path: Path) -> Path:
    """A valid .npy header claiming 10^12 rows, followed by 64 bytes of data."""
    _good(path, n=2)
    raw = path.read_bytes()
    header_len = struct.unpack("<H", raw[8:10])[0]
    header = raw[10 : 10 + header_len].decode("latin1").replace("(2, 16)", "(1000000000000, 16)")
    header = header.ljust(header_len)[:header_len]
    path.write_bytes(raw[:10] + header.encode("latin1") + raw[10 + header_len :])
    return path


def _truncated_npy(path: Path) -> Path:
    _good(path, n=80)
    path.write_bytes(path.read_bytes()[:-100])
    return path


def _store(path: Path) -> Path:
    store = FeatureStore.create(path, D)
    store.add(clustered(60, d=D, seed=5), {"path": [f"i{i}.png" for i in range(60)]})
    return path


def _edit_manifest(path: Path, **changes: object) -> Path:
    _store(path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


#: name -> (make the bad input in a folder -> the fmood arguments, words the error must hold)
ARRAY_CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "missing file": (lambda d: ["fit", str(d / "nope.npy"), "--out", str(d / "det")], "nope.npy"),
    "empty file": (
        lambda d: ["fit", str(_touch(d / "empty.npy")), "--out", str(d / "det")],
        "empty.npy",
    ),
    "text, not npy": (lambda d: ["fit", str(_text(d / "t.npy")), "--out", str(d / "det")], "t.npy"),
    "pickled objects": (
        lambda d: [
            "fit",
            str(_npy(d / "obj.npy", np.array([{"a": 1}] * 3, dtype=object))),
            "--out",
            str(d / "det"),
        ],
        "obj.npy",
    ),
    "pickle file named .npy": (
        lambda d: ["fit", str(_pickle(d / "p.npy")), "--out", str(d / "det")],
        "p.npy",
    ),
    "complex values": (
        lambda d: [
            "fit",
            str(_npy(d / "c.npy", (clustered(80, d=D) * (1 + 1j)).astype(np.complex64))),
            "--out",
            str(d / "det"),
        ],
        "complex",
    ),
    "1-D array": (
        lambda d: ["fit", str(_npy(d / "v.npy", np.ones(10))), "--out", str(d / "det")],
        "v.npy",
    ),
    "3-D array": (
        lambda d: ["fit", str(_npy(d / "cube.npy", np.ones((4, 4, 4)))), "--out", str(d / "det")],
        "cube.npy",
    ),
    "NaN": (
        lambda d: [
            "fit",
            str(_npy(d / "nan.npy", _with(clustered(80, d=D), np.nan))),
            "--out",
            str(d / "det"),
        ],
        "nan.npy",
    ),
    "infinity": (
        lambda d: [
            "fit",
            str(_npy(d / "inf.npy", _with(clustered(80, d=D), np.inf))),
            "--out",
            str(d / "det"),
        ],
        "inf.npy",
    ),
    "zero rows": (
        lambda d: ["fit", str(_npy(d / "z.npy", np.ones((0, D)))), "--out", str(d / "det")],
        "z.npy",
    ),
    "text dtype": (
        lambda d: ["fit", str(_npy(d / "s.npy", np.full((5, 3), "x"))), "--out", str(d / "det")],
        "s.npy",
    ),
    "forged header (10^12 rows)": (
        lambda d: ["fit", str(_forged_header(d / "forged.npy")), "--out", str(d / "det")],
        "forged.npy",
    ),
    "truncated data": (
        lambda d: ["fit", str(_truncated_npy(d / "cut.npy")), "--out", str(d / "det")],
        "cut.npy",
    ),
    "folder that is not a store": (
        lambda d: ["fit", str(_mkdir(d / "folder")), "--out", str(d / "det")],
        "folder",
    ),
    "store manifest not JSON": (
        lambda d: ["fit", str(_garbage_manifest(d / "st")), "--out", str(d / "det")],
        "manifest",
    ),
    "store from a future format": (
        lambda d: [
            "fit",
            str(_edit_manifest(d / "st", format_version=999)),
            "--out",
            str(d / "det"),
        ],
        "st",
    ),
    "store dim edited": (
        lambda d: ["fit", str(_edit_manifest(d / "st", dim=8)), "--out", str(d / "det")],
        "st",
    ),
    "store vectors truncated": (
        lambda d: ["fit", str(_cut_vectors(d / "st")), "--out", str(d / "det")],
        "vectors",
    ),
    "target of another dimension": (
        lambda d: [
            "score",
            str(_npy(d / "t8.npy", clustered(20, d=8))),
            "--detector",
            str(_fitted(d)),
            "--out",
            str(d / "s.csv"),
        ],
        "t8.npy",
    ),
    "detector folder missing": (
        lambda d: [
            "score",
            str(_good(d / "t.npy")),
            "--detector",
            str(d / "nodet"),
            "--out",
            str(d / "s.csv"),
        ],
        "nodet",
    ),
    "detector.json not JSON": (
        lambda d: [
            "score",
            str(_good(d / "t.npy")),
            "--detector",
            str(_broken_detector(d)),
            "--out",
            str(d / "s.csv"),
        ],
        "detector.json",
    ),
    "score output is its input": (
        lambda d: [
            "score",
            str(_good(d / "t.npy")),
            "--detector",
            str(_fitted(d)),
            "--out",
            str(d / "t.npy"),
        ],
        "t.npy",
    ),
    "distance JSON is its input": (
        lambda d: [
            "distance",
            str(_good(d / "r.npy")),
            str(_good(d / "t.npy", seed=1)),
            "--json",
            str(d / "t.npy"),
        ],
        "t.npy",
    ),
    "fit output is a user's folder": (
        lambda d: ["fit", str(_good(d / "r.npy")), "--out", str(_users_folder(d / "mine"))],
        "mine",
    ),
    "report output is a user's folder": (
        lambda d: [
            "report",
            "--reference",
            str(_store(d / "ref")),
            "--target",
            str(_store(d / "tgt")),
            "--out",
            str(_users_folder(d / "mine")),
        ],
        "mine",
    ),
    "alpha out of range": (
        lambda d: [
            "score",
            str(_good(d / "t.npy")),
            "--detector",
            str(_fitted(d)),
            "--out",
            str(d / "s.csv"),
            "--alpha",
            "2",
        ],
        "alpha",
    ),
    "unknown scorer": (
        lambda d: ["fit", str(_good(d / "r.npy")), "--out", str(d / "det"), "--scorers", "magic"],
        "magic",
    ),
    "scorer parameter of the wrong type": (
        lambda d: [
            "fit",
            str(_good(d / "r.npy")),
            "--out",
            str(d / "det"),
            "--scorers",
            "knn:k=abc",
        ],
        "k",
    ),
    "calibration fraction above 1": (
        lambda d: [
            "fit",
            str(_good(d / "r.npy")),
            "--out",
            str(d / "det"),
            "--calibration-fraction",
            "1.5",
        ],
        "calibration",
    ),
    "groups of the wrong length": (
        lambda d: [
            "fit",
            str(_good(d / "r.npy")),
            "--out",
            str(d / "det"),
            "--groups",
            str(_npy(d / "g.npy", np.arange(7))),
        ],
        "g.npy",
    ),
    "groups column missing from the store": (
        lambda d: [
            "fit",
            str(_store(d / "st")),
            "--out",
            str(d / "det"),
            "--groups-column",
            "patient",
        ],
        "patient",
    ),
    "distance between dimensions": (
        lambda d: [
            "distance",
            str(_good(d / "r.npy")),
            str(_npy(d / "t8.npy", clustered(20, d=8))),
        ],
        "t8.npy",
    ),
    "unknown distance method": (
        lambda d: [
            "distance",
            str(_good(d / "r.npy")),
            str(_good(d / "t.npy", seed=1)),
            "--method",
            "telepathy",
        ],
        "telepathy",
    ),
    "query rows out of range": (
        lambda d: [
            "neighbors",
            "--store",
            str(_store(d / "st")),
            "--query",
            str(_good(d / "q.npy")),
            "--rows",
            "5000",
        ],
        "5000",
    ),
    "store metadata parts swapped": (
        lambda d: ["store", "verify", str(_swapped_parts(d / "st"))],
        "part",
    ),
    "store vector bytes flipped": (
        lambda d: ["store", "verify", str(_flipped_vectors(d / "st"))],
        "vectors",
    ),
    "detector calibration cut to one column": (
        lambda d: [
            "score",
            str(_good(d / "t.npy")),
            "--detector",
            str(_one_column(d)),
            "--out",
            str(d / "s.csv"),
        ],
        "calibration",
    ),
    "embed into a folder that is not a store": (
        lambda d: [
            "embed",
            "--backbone",
            "efficientnet-lite0",
            "--data",
            str(_images(d / "imgs")),
            "--store",
            str(_mkdir(d / "notastore")),
        ],
        "notastore",
    ),
    "embed a manifest without a path column": (
        lambda d: [
            "embed",
            "--backbone",
            "efficientnet-lite0",
            "--data",
            str(_csv(d / "m.csv", "file,site\na.png,A\n")),
            "--store",
            str(d / "st"),
        ],
        "path",
    ),
    "neighbours k = 0": (
        lambda d: [
            "neighbors",
            "--store",
            str(_store(d / "st")),
            "--query",
            str(_good(d / "q.npy")),
            "-k",
            "0",
        ],
        "k",
    ),
}


def _images(path: Path) -> Path:
    path.mkdir()
    (path / "a.png").write_bytes(_png_bytes())
    return path


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _swapped_parts(path: Path) -> Path:
    store = FeatureStore.create(path, D)
    for seed in (1, 2):
        store.add(clustered(10, d=D, seed=seed), {"path": [f"s{seed}-{i}" for i in range(10)]})
    first, second = sorted((path / "metadata").iterdir())
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    return path


def _flipped_vectors(path: Path) -> Path:
    _store(path)
    raw = bytearray((path / "vectors.f32").read_bytes())
    raw[100] ^= 0xFF
    (path / "vectors.f32").write_bytes(bytes(raw))
    return path


def _one_column(d: Path) -> Path:
    out = _fitted(d)
    with np.load(out / "arrays.npz", allow_pickle=False) as saved:
        arrays = dict(saved)
    arrays["calibration_scores"] = arrays["calibration_scores"][:, :1]
    np.savez(out / "arrays.npz", **arrays)
    return out


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _text(path: Path) -> Path:
    path.write_text("1,2,3\n4,5,6\n")
    return path


def _pickle(path: Path) -> Path:
    path.write_bytes(pickle.dumps({"payload": "never unpickled"}))
    return path


def _with(array: np.ndarray, value: float) -> np.ndarray:
    array = array.copy()
    array[3, 2] = value
    return array


def _mkdir(path: Path) -> Path:
    path.mkdir()
    (path / "something.txt").write_text("x")
    return path


def _garbage_manifest(path: Path) -> Path:
    _store(path)
    (path / "manifest.json").write_text("{not json")
    return path


def _cut_vectors(path: Path) -> Path:
    _store(path)
    vectors = path / "vectors.f32"
    vectors.write_bytes(vectors.read_bytes()[: 10 * D * 4])
    return path


def _fitted(d: Path) -> Path:
    out = d / "detector"
    if not out.exists():
        assert main(["fit", str(_good(d / "ref.npy", n=120, seed=9)), "--out", str(out)]) == 0
    return out


def _broken_detector(d: Path) -> Path:
    out = _fitted(d)
    (out / "detector.json").write_text("{oops")
    return out


def _users_folder(path: Path) -> Path:
    path.mkdir()
    (path / "summary.json").write_text(json.dumps({"format": "fmood.report"}))
    (path / "thesis.docx").write_bytes(b"years of work")
    return path


def _snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (what must not change)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("case", list(ARRAY_CASES))
def test_bad_input_gets_one_clean_line_and_loses_nothing(case, tmp_path, capsys):
    make, words = ARRAY_CASES[case]
    argv = make(tmp_path)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, f"{case}: exit {code}, stderr: {err}"
    lines = [line for line in err.splitlines() if line.startswith("fmood: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err  # progress lines may precede it
    said = lines[0] + "\n" + out  # 'store verify' lists its problems on stdout first
    assert words.lower() in said.lower(), f"{case}: {said!r} does not name {words!r}"
    after = _snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, f"{case} changed an input"


#: image file name -> bytes (or a maker): each must be one failures-file row, the run goes on.
def _huge_png(path: Path) -> None:
    PILImage.new("L", (20000, 20000)).save(path, optimize=True)


IMAGE_CASES: dict[str, Callable[[Path], None]] = {
    "zero.png": lambda p: p.write_bytes(b""),
    "half.png": lambda p: p.write_bytes(_png_bytes()[: len(_png_bytes()) // 2]),
    "text.dcm": lambda p: p.write_text("not DICOM\n" * 10),
    "garbage.nii.gz": lambda p: p.write_bytes(b"\x1f\x8b\x08 not gzip"),
    "bomb.png": _huge_png,
    os.fsdecode(b"bad-\xff-name.png"): lambda p: p.write_bytes(_png_bytes()),
}


def _png_bytes() -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    PILImage.fromarray(np.arange(48 * 40, dtype=np.uint8).reshape(48, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def test_unreadable_images_are_failure_rows_and_the_run_goes_on(tmp_path):
    folder = make_folder(tmp_path / "data", bad=False)
    for name, make in IMAGE_CASES.items():
        make(folder / name)
    store = tmp_path / "store"
    summary = embed_dataset(tiny_backbone(), folder, store, num_workers=0, progress=False)
    failures = pd.read_csv(summary.failures_path, keep_default_na=False)
    shown = {printable(name) for name in IMAGE_CASES}  # the bad name is written escaped
    assert sorted(Path(p).name for p in failures["path"]) == sorted(shown)
    assert summary.n_embedded_files == 7  # every good file of make_folder
    again = embed_dataset(tiny_backbone(), folder, store, num_workers=0, progress=False)
    assert again.n_embedded_files == 0 and len(FeatureStore.open(store)) == summary.n_stored
