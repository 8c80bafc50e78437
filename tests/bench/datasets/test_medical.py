"""The medical OOD dataset: real images on disk, manifests, grading, determinism and caching.

One small build per module (3 + 2 subjects, 6 slices, 2 severities) is shared; the tests that
need a second build (determinism, parameter change, incomplete folder) each make one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fmood.errors import InvalidInputError
from fmood.io import read_image
from fmood.io.dataset import list_dataset
from fmood_bench.datasets.medical import (
    ARTIFACT_TYPES,
    COLUMNS,
    GROUPS,
    SHIFTS,
    apply_artifact,
    artifact_parameters,
    make_medical_ood_dataset,
)
from fmood_bench.datasets.medical import builder as medical_builder

SMALL = {
    "n_reference_subjects": 3,
    "n_target_subjects": 2,
    "slices_per_subject": 6,
    "severities": 2,
    "artifact_slices": 4,
    "seed": 0,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_medical_ood_dataset(
        tmp_path_factory.mktemp("medical") / "a", progress=False, **SMALL
    )


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def _pixels(root: Path, relative: str) -> np.ndarray:
    (image,) = read_image(root / relative)
    return image.pixels


def test_manifests_load_and_every_file_decodes(built):
    reference = list_dataset(built.reference_csv)
    target = list_dataset(built.target_csv)
    assert len(reference) == built.counts["reference"] == 3 * 6
    assert len(target) == sum(built.counts.values()) - built.counts["reference"]
    for record in reference + target:
        (image,) = read_image(record.path)
        assert image.pixels.dtype == np.float32
        assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0
        assert image.pixels.max() > image.pixels.min(), record.path
    assert reference[0].metadata["site"] == "reference-site"


def test_columns_groups_and_modalities(built):
    reference, target = built.reference(), built.target()
    for table in (reference, target):
        assert list(table.columns) == list(COLUMNS)
        assert table[["patient", "site", "shift", "shift_group", "modality"]].notna().all().all()
        for shift, rows in table.groupby("shift"):
            assert set(rows["shift_group"]) == {SHIFTS[shift].group}
            assert set(rows["modality"]) == {SHIFTS[shift].modality}
    assert set(reference["shift"]) == {"reference"}
    assert set(reference["site"]) == {"reference-site"}
    # Every named set is present, and the groups partition them.
    assert set(target["shift"]) | {"reference"} == set(SHIFTS)
    grouped = [name for names in GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(SHIFTS) and len(grouped) == len(set(grouped))
    assert set(GROUPS) == {"id", "near", "far"}
    assert {f"artifact-{a}" for a in ARTIFACT_TYPES} <= set(GROUPS["near"])
    assert {"ct", "xray", "ultrasound", "fundus", "histology", "natural"} <= set(GROUPS["far"])
    assert {"MR", "CT", "CR", "US", "fundus", "histology", "natural"} <= set(target["modality"])


def test_subjects_disjoint_and_artifacts_from_target_subjects(built):
    reference, target = built.reference(), built.target()
    held_out = set(target.loc[target["shift"] == "id", "patient"])
    assert len(set(reference["patient"])) == 3 and len(held_out) == 2
    assert set(reference["patient"]).isdisjoint(held_out)
    artifacts = target[target["shift"].str.startswith("artifact-")]
    assert set(artifacts["patient"]) <= held_out
    assert set(artifacts["patient"]) == held_out  # the artifact slices span every subject


def test_severity_levels_present_and_difference_grows(built):
    target = built.target()
    clean = target[target["shift"] == "id"]
    assert set(clean["severity"]) == {0}
    others = target[~target["shift"].str.startswith("artifact-") & (target["shift"] != "id")]
    assert others["severity"].isna().all()
    for artifact in ARTIFACT_TYPES:
        rows = target[target["shift"] == f"artifact-{artifact}"]
        assert sorted(rows["severity"].unique()) == [1, 2]
        assert len(rows) == SMALL["artifact_slices"] * SMALL["severities"]
        differences = {1: [], 2: []}
        for row in rows.itertuples():
            # The artifact file is the clean slice's name plus _s<severity>.
            clean_path = "target/id/" + Path(row.path).name.rsplit("_s", 1)[0] + ".png"
            assert clean_path in set(clean["path"])
            difference = np.abs(_pixels(built.root, row.path) - _pixels(built.root, clean_path))
            differences[int(row.severity)].append(difference.mean())
        assert np.mean(differences[1]) > 1e-3, artifact
        assert np.mean(differences[2]) > np.mean(differences[1]), artifact


def test_five_graded_levels_are_monotone_on_a_real_slice():
    from fmood_bench.datasets.medical.sources import display_axial, mni_template

    template = mni_template("t1")
    slices = [display_axial(template.data[..., z]) for z in (60, 90)]
    for artifact in ARTIFACT_TYPES:
        for pixels in slices:
            gaps = [
                np.abs(apply_artifact(pixels, artifact, s, 5, seed=3)[0] - pixels).mean()
                for s in range(1, 6)
            ]
            assert np.all(np.diff(gaps) > 0), (artifact, np.round(gaps, 4))
        # Fixed parameters: the same call gives the same pixels.
        a, text = apply_artifact(slices[0], artifact, 3, 5, seed=3)
        b, _ = apply_artifact(slices[0], artifact, 3, 5, seed=3)
        np.testing.assert_array_equal(a, b)
        assert text == artifact_parameters(artifact, 3, 5, seed=3)
    with pytest.raises(InvalidInputError):
        apply_artifact(slices[0], "zipper", 1, 5)
    with pytest.raises(InvalidInputError):
        apply_artifact(slices[0], "noise", 6, 5)


def test_same_seed_gives_identical_bytes(built, tmp_path):
    other = make_medical_ood_dataset(tmp_path / "b", progress=False, **SMALL)
    first, second = _files(built.root), _files(other.root)
    assert first.keys() == second.keys()
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes(), name


def test_complete_build_is_reused_without_rewriting(built):
    before = {name: p.stat().st_mtime_ns for name, p in _files(built.root).items()}
    again = make_medical_ood_dataset(built.root, progress=False, **SMALL)
    assert again.reused and not built.reused
    assert again.counts == built.counts
    after = {name: p.stat().st_mtime_ns for name, p in _files(built.root).items()}
    assert after == before


def test_parameter_change_rebuilds_in_place(built, tmp_path):
    root = tmp_path / "c"
    shutil.copytree(built.root, root)
    changed = make_medical_ood_dataset(root, progress=False, **{**SMALL, "severities": 1})
    assert not changed.reused
    build = json.loads((root / "build.json").read_text())
    assert build["parameters"]["severities"] == 1
    target = changed.target()
    assert set(target.loc[target["shift"] == "artifact-noise", "severity"]) == {1}
    assert not list((root / "target" / "artifact-noise").glob("*_s2.png"))
    # Nothing half-built or staged is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["c"]


def test_incomplete_build_is_rebuilt(built, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(built.root, root)
    missing = root / built.reference()["path"].iloc[0]
    missing.unlink()
    rebuilt = make_medical_ood_dataset(root, progress=False, **SMALL)
    assert not rebuilt.reused
    assert missing.read_bytes() == (built.root / missing.relative_to(root)).read_bytes()


def test_foreign_folder_is_refused_and_left_alone(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(InvalidInputError, match="not a dataset"):
        make_medical_ood_dataset(tmp_path, progress=False, **SMALL)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "bad",
    [
        {"slices_per_subject": 0},
        {"slices_per_subject": 61},
        {"n_reference_subjects": 0},
        {"severities": 0},
        {"artifact_slices": 13},  # more than the 2 x 6 clean target slices
        {"seed": -1},
        {"severities": 2.0},
    ],
)
def test_invalid_parameters(bad, tmp_path):
    with pytest.raises(InvalidInputError):
        make_medical_ood_dataset(tmp_path / "e", progress=False, **{**SMALL, **bad})
    assert not (tmp_path / "e").exists()


def test_missing_package_sources_are_listed(monkeypatch):
    real = medical_builder.package_file

    def without_pydicom_data(package, relative):
        return None if package == "pydicom-data" else real(package, relative)

    monkeypatch.setattr(medical_builder, "package_file", without_pydicom_data)
    used, missing = medical_builder._available_sources()
    assert missing and all(key.startswith("pydicom-data:") for key in missing)
    assert "pydicom:CT_small.dcm" in used and "scikit-image:data/retina.jpg" in used


def test_describe_lists_every_set(built):
    text = built.describe()
    lines = text.splitlines()
    for name, count in built.counts.items():
        (line,) = [line for line in lines if line.split()[0] == name]
        assert line.split()[3] == str(count)
    assert "near" in text and "far" in text
    assert str(sum(built.counts.values())) in text


def test_build_file_records_counts_and_sources(built):
    build = json.loads((built.root / "build.json").read_text())
    assert build["counts"] == built.counts
    assert build["files"] == sum(built.counts.values())
    assert build["parameters"] == {**SMALL}
    assert "pydicom-data:RG1_UNCR.dcm" in build["sources"]
    subjects = pd.read_csv(built.root / "subjects.csv")
    assert len(subjects) == 5 and subjects["patient"].is_unique
    assert os.path.isfile(built.root / "reference.csv")
