"""Privacy: a name typed into a DICOM text field, or burned into its pixels, is never shown.

The hostile sender's files go through the real pipeline (``embed_dataset`` with a tiny
backbone, the store, ``build_report``, the neighbour panel) and every file written is
searched for the names.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from embed.helpers import tiny_backbone
from PIL import Image as PILImage
from pydicom.data import get_testdata_file

from fmood.embed import embed_dataset
from fmood.io.dataset import list_dataset, load_records
from fmood.io.dicom import text_hash
from fmood.report import build_report
from fmood.report.panel import write_panel
from fmood.store import FeatureStore

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: Names a sender typed into text fields; none may appear in anything fmood writes.
NAMES = ("DOE^JOHN", "Jane Roe", "SMITH^ALICE", "JOHN", "ALICE", "Roe")
HOSTILE = {
    "name_vendor.dcm": {"Manufacturer": "DOE^JOHN"},
    "name_model.dcm": {"ManufacturerModelName": "Jane Roe"},
    "name_body.dcm": {"BodyPartExamined": "SMITH^ALICE"},
    "burned.dcm": {"BurnedInAnnotation": "YES", "Manufacturer": "DOE^JOHN"},
    "face.dcm": {"RecognizableVisualFeatures": "YES"},
}
WITHHELD = {"burned.dcm": "burned-in annotation", "face.dcm": "recognizable visual features"}


def _dicom(path: Path, **tags: str) -> Path:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.save_as(path)
    return path


def _pngs(folder: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = rng.integers(0, 256, (24, 24), dtype=np.uint8)
        PILImage.fromarray(pixels).save(folder / f"img{i:03d}.png")


def _without_images(text: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)


def _leaks(text: str) -> list[str]:
    return [name for name in NAMES if name in text]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    _pngs(root / "reference", 60, seed=0)
    target = root / "target"
    _pngs(target, 8, seed=1)
    for name, tags in HOSTILE.items():
        _dicom(target / name, **tags)
    reference = root / "reference.store"
    embed_dataset(tiny_backbone(), root / "reference", reference, num_workers=0, progress=False)
    first = embed_dataset(
        tiny_backbone(), target, root / "target.store", num_workers=0, progress=False
    )
    failures_text = Path(first.failures_path).read_text(encoding="utf-8")
    # The sender is told, then opts in: the identifiable files are embedded, never shown.
    second = embed_dataset(
        tiny_backbone(),
        target,
        root / "target.store",
        num_workers=0,
        progress=False,
        read_options={"identifiable_pixels": "embed"},
    )
    return root, failures_text, second


def test_identifiable_pixels_are_failures_by_default_then_embedded_on_request(stores):
    root, failures_text, second = stores
    failures = pd.read_csv(io.StringIO(failures_text))
    assert sorted(Path(p).name for p in failures["path"]) == sorted(WITHHELD)
    for path, error in zip(failures["path"], failures["error"], strict=True):
        assert f"pixels withheld: {WITHHELD[Path(path).name]}" in error
    assert second.n_embedded_files == len(WITHHELD) and second.n_failed_files == 0
    meta = FeatureStore.open(root / "target.store").metadata
    by_name = {Path(p).name: row for p, (_, row) in zip(meta["path"], meta.iterrows(), strict=True)}
    for name, reason in WITHHELD.items():
        assert by_name[name]["pixels_withheld"] == reason
    assert pd.isna(by_name["name_vendor.dcm"]["pixels_withheld"])


def test_names_in_dicom_text_fields_reach_no_store_csv_json_or_report(stores):
    root, failures_text, _ = stores
    meta = FeatureStore.open(root / "target.store").metadata
    by_name = {Path(p).name: row for p, (_, row) in zip(meta["path"], meta.iterrows(), strict=True)}
    assert by_name["name_vendor.dcm"]["Manufacturer"] == text_hash("DOE^JOHN")
    assert by_name["name_model.dcm"]["ManufacturerModelName"] == text_hash("Jane Roe")
    assert by_name["name_body.dcm"]["BodyPartExamined"] == text_hash("SMITH^ALICE")
    assert _leaks(meta.to_csv()) == []
    out = root / "report"
    build_report(
        root / "reference.store",
        root / "target.store",
        out,
        progress=False,
        n_bootstrap=20,
        n_top=len(meta),
    )
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.name for p in written} >= {"report.html", "scores.csv", "summary.json"}
    assert _leaks(failures_text) == []
    for path in written:
        text = _without_images(path.read_text(encoding="utf-8", errors="replace"))
        assert _leaks(text) == [], path


def test_the_report_shows_a_placeholder_for_withheld_pixels(stores):
    root, _, _ = stores
    out = root / "report-gallery"
    n = len(FeatureStore.open(root / "target.store"))
    # Half the borderline band per side: every target image is in it, flagged or not.
    build_report(
        root / "reference.store",
        root / "target.store",
        out,
        progress=False,
        n_bootstrap=20,
        n_top=n,
        n_borderline=2 * n,
    )
    html = (out / "report.html").read_text(encoding="utf-8")
    gallery = html[html.index('id="borderline"') : html.index('id="groups"')]
    cases = gallery.split('<div class="case">')
    for name, reason in WITHHELD.items():
        matching = [c for c in cases if f'/{name}"' in c.split("<dl>")[0]]
        assert matching, name
        for case in matching:
            target_cell = case.split("<dl>")[0]
            assert f"image not shown: pixels withheld: {reason}" in target_cell
            assert "<img" not in target_cell
    shown = sum(c.count('<img src="data:image/png') for c in cases)
    assert shown > 0  # other images still are


def test_the_neighbour_panel_withholds_and_escapes(tmp_path, stores):
    root, _, _ = stores
    burned = root / "target" / "burned.dcm"
    clean = root / "target" / "img000.png"
    neighbours = pd.DataFrame(
        {
            "query": [0, 0],
            "rank": [1, 2],
            "id": [3, 4],
            "distance": [0.1, 0.2],
            "path": [str(clean), str(clean)],
            "frame": [None, None],
            "pixels_withheld": ["<script>alert(1)</script>", None],
        }
    )
    out = tmp_path / "panel.html"
    write_panel(out, str(burned), [None], [[("degree", "0.5")]], neighbours)
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html
    assert "pixels withheld: &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "pixels withheld: burned-in annotation" in html  # the query itself
    assert html.count('<img alt="neighbour') == 1  # only the neighbour without a reason


def test_a_folder_read_without_options_never_holds_a_name(tmp_path):
    for name, tags in HOSTILE.items():
        _dicom(tmp_path / name, **tags)
    images, failures = load_records(list_dataset(tmp_path))
    assert sorted(Path(p).name for p in failures["path"]) == sorted(WITHHELD)
    assert len(images) == len(HOSTILE) - len(WITHHELD)
    assert _leaks(repr([image.metadata for _, image in images])) == []
