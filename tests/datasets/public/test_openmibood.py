"""OpenMIBOOD through pytorch-ood 0.4.0: a small MIDOG folder in the layout its loader reads."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

from fmood.datasets.public import export_openmibood, load_openmibood
from fmood.datasets.public.openmibood import COLUMNS, OPENMIBOOD_URL
from fmood.errors import InvalidInputError
from fmood.io import read_image
from fmood.io.dataset import list_dataset

pytest.importorskip("pytorch_ood")

#: OpenMIBOOD's data/benchmark_imglist/midog/ file names, with lines in their format; the
#: paths follow its download scripts (data/midog/{1a,csid/1b,near/2,far/ccagt_crops,...}).
MIDOG_LISTS = {
    "train_midog.txt": [("1a/003/003_21_0.tiff", 0), ("1a/003/003_21_2.tiff", 2)],
    "test_midog.txt": [("1a/017/017_342_1.tiff", 1)],
    "test_midog_1b.txt": [("csid/1b/051/051_812_0.tiff", 0)],
    "test_midog_1c.txt": [("csid/1c/101/101_1604_2.tiff", 2)],
    **{
        f"test_midog_{domain}.txt": [(f"near/{domain}/{number}/{number}_9_0.tiff", -1)]
        for domain, number in [
            ("2", 201),
            ("3", 245),
            ("4", 300),
            ("5", 350),
            ("6a", 405),
            ("6b", 490),
            ("7", 505),
        ]
    },
    "test_midog_ccagt.txt": [("far/ccagt_crops/H_15490_-260640_129600/95_5.jpg", -1)],
    "test_midog_fnac2019.txt": [("far/fnac2019/B_1.jpg", -1)],
}
NAMES = [
    "midog_id",
    "midog_id",
    "midog_csid_1b",
    "midog_csid_1c",
    "midog_2",
    "midog_3",
    "midog_4",
    "midog_5",
    "midog_6a",
    "midog_6b",
    "midog_7",
    "midog_ccagt",
    "midog_fnac2019",
]
GROUPS = ["id", "id", "csid", "csid", *["near"] * 7, "far", "far"]


def _midog(root: Path) -> Path:
    rng = np.random.default_rng(0)
    (root / "imglists" / "midog").mkdir(parents=True)
    for name, lines in MIDOG_LISTS.items():
        text = "".join(f"{relative} {label}\n" for relative, label in lines)
        (root / "imglists" / "midog" / name).write_text(text)
        for relative, _ in lines:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
            PILImage.fromarray(pixels).save(root / relative)
    return root


@pytest.fixture
def midog(tmp_path) -> Path:
    return _midog(tmp_path / "data" / "midog")


def test_every_list_is_read_with_its_group(midog):
    sets = load_openmibood("midog", midog)
    assert [s.name for s in sets] == NAMES
    assert [s.group for s in sets] == GROUPS
    assert [s.split for s in sets] == ["train", *["test"] * 12]
    by_list = [
        MIDOG_LISTS["train_midog.txt"],
        MIDOG_LISTS["test_midog.txt"],
        *(
            MIDOG_LISTS[f"test_{name}.txt"]
            for name in [
                "midog_1b",
                "midog_1c",
                "midog_2",
                "midog_3",
                "midog_4",
                "midog_5",
                "midog_6a",
                "midog_6b",
                "midog_7",
                "midog_ccagt",
                "midog_fnac2019",
            ]
        ),
    ]
    for s, lines in zip(sets, by_list, strict=True):
        assert s.files == tuple(str(midog / relative) for relative, _ in lines)
        assert s.labels == tuple(label for _, label in lines)


def test_export_writes_manifests_that_point_at_the_benchmark_files(midog, tmp_path):
    reference_csv, target_csv = export_openmibood("midog", midog, tmp_path / "out")
    reference, target = pd.read_csv(reference_csv), pd.read_csv(target_csv)
    assert list(reference.columns) == list(target.columns) == list(COLUMNS)
    assert reference["shift_group"].tolist() == ["id", "id"]
    assert reference["label"].tolist() == [0, 2]
    assert target["shift"].tolist() == NAMES[1:]
    assert target["shift_group"].tolist() == GROUPS[1:]
    assert set(target["split"]) == {"test"} and set(target["benchmark"]) == {"midog"}
    assert not any(Path(p).is_absolute() for p in target["path"])

    sets = load_openmibood("midog", midog)
    originals = [f for s in sets[1:] for f in s.files]
    records = list_dataset(target_csv)
    assert [Path(r.path).resolve() for r in records] == [Path(f).resolve() for f in originals]
    for record in records:
        (image,) = read_image(record.path)
        assert image.pixels.shape == (10, 10, 3)
    assert len(list_dataset(reference_csv)) == 2


def test_copy_puts_the_same_bytes_inside_the_export(midog, tmp_path):
    out = tmp_path / "out"
    _, target_csv = export_openmibood("midog", midog, out, copy=True)
    target = pd.read_csv(target_csv)
    assert all(p.startswith("images/") for p in target["path"])
    for relative in target["path"]:
        original = midog / Path(relative).relative_to("images")
        assert (out / relative).read_bytes() == original.read_bytes()
    assert len(list_dataset(target_csv)) == len(target) == 12


def test_a_missing_root_says_where_to_get_the_data(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(InvalidInputError) as error:
        load_openmibood("midog", root)
    message = str(error.value)
    assert str(root / "imglists" / "midog") in message and OPENMIBOOD_URL in message
    assert "\n" not in message
    assert not root.exists()  # nothing created, unlike pytorch-ood's own constructor


def test_a_missing_image_list_is_named(midog):
    (midog / "imglists" / "midog" / "test_midog_7.txt").unlink()
    with pytest.raises(InvalidInputError, match=r"\['test_midog_7.txt'\] missing") as error:
        load_openmibood("midog", midog)
    assert OPENMIBOOD_URL in str(error.value)


def test_missing_images_are_counted_and_named(midog):
    (midog / "near" / "5" / "350" / "350_9_0.tiff").unlink()
    with pytest.raises(InvalidInputError) as error:
        load_openmibood("midog", midog)
    message = str(error.value)
    assert "1 of the 14 images" in message and "350_9_0.tiff" in message
    assert OPENMIBOOD_URL in message


def test_a_malformed_list_is_reported(midog):
    (midog / "imglists" / "midog" / "test_midog.txt").write_text("1a/017/017_342_1.tiff one\n")
    with pytest.raises(InvalidInputError, match=re.escape(str(midog))):
        load_openmibood("midog", midog)


def test_copy_refuses_a_list_that_leaves_the_root(midog, tmp_path):
    outside = midog.parent / "outside.tiff"
    PILImage.fromarray(np.zeros((4, 4), np.uint8)).save(outside)
    (midog / "imglists" / "midog" / "test_midog_2.txt").write_text("../outside.tiff -1\n")
    with pytest.raises(InvalidInputError, match="outside"):
        export_openmibood("midog", midog, tmp_path / "out", copy=True)
    assert not (tmp_path / "out").exists()
    _, target_csv = export_openmibood("midog", midog, tmp_path / "out")  # pointing is fine
    assert any(p.endswith("outside.tiff") for p in pd.read_csv(target_csv)["path"])


def test_an_unknown_benchmark_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="benchmark must be one of"):
        load_openmibood("midog++", tmp_path)
