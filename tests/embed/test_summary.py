"""The run summary and the failures file beside the store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fmood.embed.summary import EmbedSummary, default_failures_path, save_failures

FAILURES = pd.DataFrame({"path": ["/d/x.png"], "error": ["/d/x.png: file is empty"]})


def test_default_failures_path_is_beside_the_store(tmp_path):
    assert (
        default_failures_path(tmp_path / "stores" / "a") == tmp_path / "stores" / "a.failures.csv"
    )
    assert (
        default_failures_path(tmp_path / "stores" / "a/") == tmp_path / "stores" / "a.failures.csv"
    )


def test_save_failures_replaces_and_removes_only_its_own_file(tmp_path):
    path = tmp_path / "f.csv"
    assert save_failures(FAILURES, path) == path
    pd.testing.assert_frame_equal(pd.read_csv(path), FAILURES)
    assert save_failures(FAILURES.iloc[:0], path) is None and not path.exists()
    other = tmp_path / "notes.csv"
    other.write_text("a,b\n1,2\n")
    assert save_failures(FAILURES.iloc[:0], other) is None and other.exists()


def _summary(**changes) -> EmbedSummary:
    fields = {
        "store": Path("/s"),
        "backbone": "tiny",
        "n_files": 10,
        "n_embedded_files": 7,
        "n_images": 12,
        "n_skipped_files": 2,
        "n_failed_files": 1,
        "failures_path": Path("/s.failures.csv"),
        "seconds": 2.0,
        "images_per_second": 6.0,
        "n_stored": 20,
        "failures": FAILURES,
    }
    return EmbedSummary(**{**fields, **changes})


def test_summary_paragraph():
    text = str(_summary())
    assert text == (
        "Embedded 12 images from 7 of 10 files with tiny into /s in 2.0 s (6.0 images/s); "
        "the store now holds 20 vectors. 2 files already in the store were skipped. 1 file "
        "could not be embedded (listed in /s.failures.csv; first: /d/x.png: file is empty)."
    )
    clean = str(_summary(n_skipped_files=0, n_failed_files=0, failures_path=None, n_images=1))
    assert "1 image from" in clean and clean.endswith("No file failed.")
    assert "failures=" not in repr(_summary())


def test_failures_cannot_run_as_formulas_and_odd_names_are_escaped(tmp_path):
    path = tmp_path / "f.csv"
    odd = pd.DataFrame(
        {
            "path": ["=HYPERLINK(x)", "/d/scan\udcff.png"],
            "error": ["-bad", "/d/scan\udcff.png: \x1b[2J empty"],
        },
        dtype=object,
    )
    save_failures(odd, path)
    back = pd.read_csv(path)
    assert back["path"].tolist() == ["'=HYPERLINK(x)", "/d/scan\\udcff.png"]
    assert back["error"].tolist() == ["'-bad", "/d/scan\\udcff.png: \\x1b[2J empty"]
