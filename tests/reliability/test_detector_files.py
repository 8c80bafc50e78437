"""A damaged or tampered saved detector never loads silently and never crashes fmood.

Each case edits one thing in a saved detector (``detector.json`` or ``arrays.npz``); loading
must raise a typed fmood error naming the file and the fix, and ``fmood score`` must exit 2
with one line on stderr, never an internal error (exit 1) or a detector that scores.
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fmood.calibration.detector import OODDetector
from fmood.cli.main import main
from fmood.errors import FmoodError, StoreVersionError

D = 16

Config = dict[str, Any]
Arrays = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Arrays, Path]:
    """detector.json, arrays.npz and a query file of a detector fitted with domains."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, D)).astype(np.float32)
    domains = np.where(np.arange(200) % 2 == 0, "A", "B")
    root = tmp_path_factory.mktemp("saved")
    OODDetector(min_domain_calibration=10).fit(X, domains=domains).save(root / "detector")
    config = json.loads((root / "detector" / "detector.json").read_text())
    with np.load(root / "detector" / "arrays.npz", allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    np.save(root / "queries.npy", X[:20])
    return config, arrays, root / "queries.npy"


def edit_json(change: Callable[[Config], None]) -> Callable[[Config, Arrays], None]:
    return lambda config, arrays: change(config)


def edit_array(
    key: str, change: Callable[[np.ndarray], np.ndarray]
) -> Callable[[Config, Arrays], None]:
    def apply(config: Config, arrays: Arrays) -> None:
        arrays[key] = change(arrays[key])

    return apply


def nan_at_first(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    a.flat[0] = np.nan
    return a


def pickled_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, calibration_scores=np.array([{"evil": 1}], dtype=object))
    return buffer.getvalue()


TAMPERINGS: dict[str, Callable[[Config, Arrays], None]] = {
    "json field missing": edit_json(lambda c: c.pop("n_features_in")),
    "json scorers missing": edit_json(lambda c: c.pop("scorers")),
    "json domains missing": edit_json(lambda c: c.pop("domains")),
    "json params missing": edit_json(lambda c: c.pop("params")),
    "json n_features wrong type": edit_json(lambda c: c.update(n_features_in="16")),
    "json scorers wrong type": edit_json(lambda c: c.update(scorers="mahalanobis")),
    "json scorer entry wrong type": edit_json(
        lambda c: c.update(scorers=["mahalanobis", "residual"])
    ),
    "json domains wrong type": edit_json(lambda c: c.update(domains="A")),
    "json param wrong type": edit_json(lambda c: c["params"].update(tail="yes")),
    "json param unknown": edit_json(lambda c: c["params"].update(colour="red")),
    "json scorer param wrong type": edit_json(
        lambda c: c["scorers"][0]["params"].update(batch_size="big")
    ),
    "json scorer batch size zero": edit_json(
        lambda c: c["scorers"][1]["params"].update(batch_size=0)
    ),
    "json scorer unknown": edit_json(lambda c: c["scorers"][0].update(name="nope")),
    # Edits of detector.json that contradict arrays.npz: reported on reading the arrays.
    "json/npz scorer added": edit_json(
        lambda c: c["scorers"].append({"name": "knn", "params": {}})
    ),
    "json/npz scorer dropped": edit_json(lambda c: c["scorers"].pop()),
    "json/npz wrong n_features": edit_json(lambda c: c.update(n_features_in=8)),
    "json/npz domain dropped": edit_json(lambda c: c.update(domains=["A"])),
    "json version wrong type": edit_json(lambda c: c.update(format_version="1")),
    "json not an object": edit_json(
        lambda c: (c.clear(), c.update(format="fmood.detector", params=[]))
    ),
    "calibration cut to one column": edit_array("calibration_scores", lambda a: a[:, :1]),
    "calibration NaN": edit_array("calibration_scores", nan_at_first),
    "calibration ints": edit_array("calibration_scores", lambda a: a.astype(np.int64)),
    "calibration one row": edit_array("calibration_scores", lambda a: a[:1]),
    "state array truncated": edit_array("model0.scorer0.means_", lambda a: a[:, :-1]),
    "state array NaN": edit_array("model0.scorer0.whitener_", nan_at_first),
    "state array infinite": edit_array("model0.scorer1.mean_", lambda a: a * np.inf),
    "state array as strings": edit_array("model0.scorer1.mean_", lambda a: a.astype(str)),
    "state n_features wrong": edit_array("model0.scorer0.n_features_in_", lambda a: np.asarray(8)),
    "state n_features zero": edit_array("model0.scorer1.n_features_in_", lambda a: np.asarray(0)),
    "state scalar made a vector": edit_array(
        "model0.scorer1.n_features_in_", lambda a: np.asarray([D])
    ),
    "state of a later fold truncated": edit_array("model4.scorer0.means_", lambda a: a[:, :-1]),
    "domain codes out of range": edit_array("domain_reference_codes", lambda a: a + 5),
    "domain reference wrong width": edit_array("domain_reference", lambda a: a[:, :4]),
    "domain codes wrong length": edit_array("calibration_domain_codes", lambda a: a[:-1]),
    "npz key missing": lambda c, a: a.pop("model0.scorer0.whitener_"),
    "npz key of a later fold missing": lambda c, a: a.pop("model3.scorer1.mean_"),
    "npz detector key missing": lambda c, a: a.pop("domain_reference"),
    "npz key extra": lambda c, a: a.update({"model0.scorer0.extra_": np.zeros(3)}),
    "npz key of no scorer": lambda c, a: a.update({"model0.scorer7.means_": np.zeros(3)}),
    "npz key of no model": lambda c, a: a.update({"model9.scorer0.means_": np.zeros(3)}),
    "npz key in the old layout": lambda c, a: a.update({"scorer0.means_": np.zeros(3)}),
    "npz detector key extra": lambda c, a: a.update({"payload": np.zeros(3)}),
    "npz scorer key without a field": lambda c, a: a.update({"model0.scorer0": np.zeros(3)}),
    # Cross-conformal state (format 3): the fold of each calibration score, the model count.
    "calibration folds missing": lambda c, a: a.pop("calibration_folds"),
    "calibration folds out of range": edit_array("calibration_folds", lambda a: a + 5),
    "calibration folds negative": edit_array("calibration_folds", lambda a: a - 1),
    "calibration folds one fold unused": edit_array(
        "calibration_folds", lambda a: np.minimum(a, 3)
    ),
    "calibration folds wrong length": edit_array("calibration_folds", lambda a: a[:-1]),
    "calibration folds floats": edit_array("calibration_folds", lambda a: a.astype(np.float64)),
    "json n_models missing": edit_json(lambda c: c.pop("n_models")),
    "json n_models wrong type": edit_json(lambda c: c.update(n_models="5")),
    "json n_models above n_folds": edit_json(lambda c: c.update(n_models=6)),
    "json/npz n_models fewer": edit_json(lambda c: c.update(n_models=4)),
    "json calibration_groups missing": edit_json(lambda c: c.pop("calibration_groups")),
    "json calibration_groups zero": edit_json(lambda c: c.update(calibration_groups=0)),
    "json calibration unknown": edit_json(lambda c: c["params"].update(calibration="jackknife")),
    "json n_folds one": edit_json(lambda c: c["params"].update(n_folds=1)),
    "json n_folds wrong type": edit_json(lambda c: c["params"].update(n_folds=5.0)),
    "json split with several models": edit_json(lambda c: c["params"].update(calibration="split")),
}

RAW_FILES: dict[str, tuple[str, bytes]] = {
    "npz not a zip": ("arrays.npz", b"this is not a zip archive" * 10),
    "npz pickle inside": ("arrays.npz", pickled_npz()),
    "npz is a pickle": ("arrays.npz", pickle.dumps({"calibration_scores": [1.0]})),
    "npz empty": ("arrays.npz", b""),
    "npz is one npy": ("arrays.npz", b""),  # filled in by the test: np.save output
    "json not json": ("detector.json", b"{not json"),
    "json not utf-8": ("detector.json", b"\xff\xfe{}"),
    "json a list": ("detector.json", b"[1, 2]"),
}


def write(directory: Path, config: Config, arrays: Arrays) -> Path:
    directory.mkdir()
    (directory / "detector.json").write_text(json.dumps(config))
    with open(directory / "arrays.npz", "wb") as f:
        np.savez(f, **arrays)
    return directory


def copy_of(saved: tuple[Config, Arrays, Path]) -> tuple[Config, Arrays]:
    config, arrays, _ = saved
    return json.loads(json.dumps(config)), dict(arrays)


def assert_refused(
    directory: Path, queries: Path, wrong_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(FmoodError) as info:
        OODDetector.load(directory)
    message = str(info.value)
    assert str(directory / wrong_file) in message
    fix = "upgrade fmood" if isinstance(info.value, StoreVersionError) else "re-fit the detector"
    assert fix in message
    code = main(
        [
            "score",
            "--detector",
            str(directory),
            str(queries),
            "--out",
            str(directory.parent / "out.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("fmood: error: ") and err.count("\n") == 1
    assert not (directory.parent / "out.csv").exists()


def test_untouched_detector_loads(saved, tmp_path):
    directory = write(tmp_path / "d", *copy_of(saved))
    assert OODDetector.load(directory).scorer_names_ == ["mahalanobis", "residual"]


@pytest.mark.parametrize("kind", list(TAMPERINGS))
def test_tampered_detector_is_refused(kind, saved, tmp_path, capsys):
    config, arrays = copy_of(saved)
    TAMPERINGS[kind](config, arrays)
    directory = write(tmp_path / "d", config, arrays)
    wrong_file = "detector.json" if kind.startswith("json ") else "arrays.npz"
    assert_refused(directory, saved[2], wrong_file, capsys)


@pytest.mark.parametrize("kind", list(RAW_FILES))
def test_unreadable_file_is_refused(kind, saved, tmp_path, capsys):
    directory = write(tmp_path / "d", *copy_of(saved))
    name, content = RAW_FILES[kind]
    if kind == "npz is one npy":
        buffer = io.BytesIO()
        np.save(buffer, np.zeros(3))
        content = buffer.getvalue()
    (directory / name).write_bytes(content)
    assert_refused(directory, saved[2], name, capsys)


def test_truncated_archive_is_refused(saved, tmp_path, capsys):
    directory = write(tmp_path / "d", *copy_of(saved))
    data = (directory / "arrays.npz").read_bytes()
    (directory / "arrays.npz").write_bytes(data[: len(data) // 2])
    assert_refused(directory, saved[2], "arrays.npz", capsys)


def test_format_from_the_future_asks_for_an_upgrade(saved, tmp_path, capsys):
    config, arrays = copy_of(saved)
    config["format_version"] = 99
    directory = write(tmp_path / "d", config, arrays)
    with pytest.raises(StoreVersionError, match="upgrade fmood"):
        OODDetector.load(directory)
    assert_refused(directory, saved[2], "detector.json", capsys)


@pytest.mark.parametrize("name", ["knn", "gmm", "ot", "relative_mahalanobis"])
def test_every_scorer_checks_its_state(name, tmp_path):
    """Cut the widest array of a non-default scorer: caught by that scorer's state spec."""
    X = np.random.default_rng(1).standard_normal((120, 8)).astype(np.float32)
    scorer = (name, {"k": 5}) if name == "knn" else name
    OODDetector(scorers=[scorer]).fit(X).save(tmp_path / "d")
    with np.load(tmp_path / "d" / "arrays.npz", allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    widest = max(
        (k for k in arrays if k.startswith("model0.scorer0.")), key=lambda k: arrays[k].size
    )
    arrays[widest] = arrays[widest][..., :-1]
    with open(tmp_path / "d" / "arrays.npz", "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(
        FmoodError, match="arrays.npz: model0.scorer0: scorer '.*' state: .* has shape"
    ):
        OODDetector.load(tmp_path / "d")


def legacy(detector: OODDetector, directory: Path, version: int) -> Path:
    """``detector`` (split) saved as fmood wrote it before format 3: one model, "scorer<i>." keys."""
    detector.save(directory / "new")
    config = json.loads((directory / "new" / "detector.json").read_text())
    with np.load(directory / "new" / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k.removeprefix("model0."): npz[k] for k in npz.files if k != "calibration_folds"}
    for key in ("n_models", "calibration_groups"):
        config.pop(key)
    for key in ("calibration", "n_folds"):
        config["params"].pop(key)
    config["format_version"] = version
    return write(directory / "old", config, arrays)


@pytest.mark.parametrize("version", [1, 2])
def test_older_format_files_still_load(version, tmp_path):
    """Format 3 adds cross-conformal state; a version 1 or 2 detector (split) reads as before."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, D)).astype(np.float32)
    detector = OODDetector(calibration="split", min_domain_calibration=10)
    detector.fit(X, domains=np.tile(["A", "B"], 100))
    loaded = OODDetector.load(legacy(detector, tmp_path, version))
    assert loaded.calibration == "split" and len(loaded.models_) == 1
    Q = rng.standard_normal((30, D)).astype(np.float32) * 1.5
    pd.testing.assert_frame_equal(loaded.assess(Q), detector.assess(Q))


def test_older_format_with_new_arrays_is_refused(tmp_path, capsys):
    detector = OODDetector(calibration="split").fit(
        np.random.default_rng(4).standard_normal((200, D))
    )
    directory = legacy(detector, tmp_path, 2)
    with np.load(directory / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["calibration_folds"] = np.zeros(len(arrays["calibration_scores"]), dtype=np.int64)
    with open(directory / "arrays.npz", "wb") as f:
        np.savez(f, **arrays)
    np.save(tmp_path / "q.npy", np.zeros((3, D), dtype=np.float32))
    assert_refused(directory, tmp_path / "q.npy", "arrays.npz", capsys)
