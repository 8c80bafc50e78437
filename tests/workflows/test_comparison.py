"""``compare`` split by job: its settings, records, measures and files, on a tiny encoder.

Fast: two given 8-d conv encoders (fixed weights) on 30 brain slices against 10 others made
brighter and noisier; the measures alone on synthetic embeddings. The real backbones and
their random controls are in ``test_compare.py`` (slow).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from realimages import brain_slices

from fmood.backbones import ModuleBackbone, Preprocessing
from fmood.distances.classifier import DomainClassifier
from fmood.errors import InvalidInputError
from fmood.metrics import aurc
from fmood.workflows import BackboneMeasures, CompareConfig, compare, report
from fmood.workflows.comparison.measures import (
    domain_classifier_auroc,
    label_strings,
    linear_probe,
)
from fmood.workflows.comparison.output import (
    COLUMNS,
    LABEL_COLUMNS,
    RANKINGS,
    THROUGHPUT_COLUMNS,
    ranked_table,
    render_html,
)


def _encoder(name: str, seed: int) -> ModuleBackbone:
    """An 8-d conv encoder with weights drawn from ``seed``."""
    conv = torch.nn.Conv2d(3, 8, 3)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator))
        conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator))
    module = torch.nn.Sequential(
        conv, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    return ModuleBackbone(module, Preprocessing(32), name=name, device="cpu")


def _write(folder: Path, images, indices) -> Path:
    """PNGs plus a manifest: path, patient (5 adjacent slices), half of the brain (label)."""
    folder.mkdir(parents=True)
    names = []
    for i, pixels in zip(indices, images, strict=True):
        names.append(f"slice_{i:02d}.png")
        Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(folder / names[-1])
    pd.DataFrame(
        {
            "path": names,
            "patient": [f"s{i // 5}" for i in indices],
            "half": ["inferior" if i < 20 else "superior" for i in indices],
        }
    ).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("comparison")
    brain = brain_slices(40)
    held = list(range(1, 40, 4))
    kept = [i for i in range(40) if i not in held]
    noise = np.random.default_rng(0)
    shifted = [0.3 + 0.7 * brain[i] + 0.1 * noise.standard_normal(brain[i].shape) for i in held]
    return {
        "root": root,
        "reference": _write(root / "reference", [brain[i] for i in kept], kept),
        "target": _write(root / "target", shifted, held),
        "store_root": root / "embeddings",
    }


ENCODERS = [_encoder("tiny-a", 7), _encoder("tiny-b", 8)]


def _compare(data, out: str, **settings):
    return compare(ENCODERS, data["reference"], data["target"], data["root"] / out, **settings)


@pytest.fixture(scope="module")
def by_keywords(data):
    return _compare(
        data,
        "keywords",
        label_column="half",
        store_root=data["store_root"],
        throughput_sample=0,
        progress=False,
    )


def test_keywords_and_a_config_give_the_same_comparison(data, by_keywords):
    config = CompareConfig(
        label_column="half", store_root=data["store_root"], throughput_sample=0, progress=False
    )
    by_config = _compare(data, "config", config=config)
    assert by_config.config == config == by_keywords.config
    pd.testing.assert_frame_equal(
        by_keywords.table.drop(columns=list(THROUGHPUT_COLUMNS)),
        by_config.table.drop(columns=list(THROUGHPUT_COLUMNS)),
    )
    # A keyword beside config= replaces that one setting.
    again = _compare(data, "config", config=config, rank_by="mmd_ratio")
    assert again.rank_by == again.config.rank_by == "mmd_ratio"
    assert again.config.label_column == "half"
    assert json.loads(again.summary_path.read_text())["rank_by"] == "mmd_ratio"
    with pytest.raises(TypeError, match="colour"):
        _compare(data, "never", config=config, colour="red")


def test_table_and_summary_are_read_off_one_record_per_backbone(by_keywords):
    measures = by_keywords.measures
    assert [m.label for m in measures] == ["tiny-a", "tiny-b"]
    assert all(isinstance(m, BackboneMeasures) for m in measures)
    table = by_keywords.table.set_index("backbone")
    assert list(by_keywords.table.columns) == list(COLUMNS)
    summary = json.loads(by_keywords.summary_path.read_text())
    entries = {entry["backbone"]: entry for entry in summary["backbones"]}
    for m in measures:
        row = table.loc[m.label]
        assert row["separability"] == m.separability == entries[m.label]["separability"]["auroc"]
        assert row["classifier_auroc"] == m.classifier.auroc
        assert row["mmd_ratio"] == pytest.approx(m.mmd.ratio)
        assert row["target_accuracy"] == m.probe.target_accuracy
        assert row["n_flagged"] == m.detector.n_flagged == entries[m.label]["detector"]["n_flagged"]
        assert entries[m.label]["probe"]["classes"] == ["inferior", "superior"]
        # The patient column was found on both sides: folds and splits keep patients whole.
        assert m.classifier.group_aware and m.probe.held_out_by_patient
        assert entries[m.label]["groups"] == {"reference": True, "target": True}
    embedded = "40 images embedded in this run (reading files included)"
    assert (table["throughput_measured_on"] == embedded).all()
    ranked = [entries[name]["backbone"] for name in summary["ranking"]]
    assert ranked == by_keywords.ranking == table.index.tolist()


def test_without_labels_the_record_has_no_probe_columns(data, by_keywords):
    result = _compare(data, "unlabelled", store_root=data["store_root"], progress=False)
    assert all(m.probe is None for m in result.measures)
    assert not set(LABEL_COLUMNS) & set(result.table.columns)
    assert all(set(LABEL_COLUMNS).isdisjoint(m.row()) for m in result.measures)
    # Stored already: timed on a sample re-embedded in memory, the rest unchanged.
    assert (result.table["throughput_measured_on"].str.contains("re-embedded in memory")).all()
    same = ["separability", "classifier_auroc", "mmd", "flagged_share"]
    pd.testing.assert_frame_equal(
        result.table.set_index("backbone")[same].sort_index(),
        by_keywords.table.set_index("backbone")[same].sort_index(),
    )


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"alpha": 1.5}, r"alpha must be in \(0, 1\)"),
        ({"seed": "0"}, "seed must be an integer"),
        ({"rank_by": "beauty"}, "rank_by must be one of separability"),
        ({"rank_by": "error_aurc"}, "'error_aurc' needs a label_column"),
        ({"throughput_sample": -1}, "throughput_sample must be an integer >= 0"),
        ({"read_options": {"zoom": 2}}, r"unknown read option\(s\) \['zoom'\]"),
    ],
)
def test_config_refuses_bad_settings_when_built(settings, message):
    with pytest.raises(InvalidInputError, match=message):
        CompareConfig(**settings)


def test_config_records_the_settings_that_fix_the_numbers():
    config = CompareConfig(label_column="y", seed=3, store_root=Path("e"), read_options=None)
    assert config.read_options == {} and config.with_labels
    assert config.recorded() == {
        "label_column": "y",
        "groups_column": "patient",
        "seed": 3,
        "alpha": 0.05,
        "rank_by": "separability",
        "store_root": "e",
        "device": "auto",
        "throughput_sample": 16,
    }
    assert set(RANKINGS) >= {"separability", "error_aurc"}


def test_module_names_do_not_hide_the_functions():
    # issue 13: modules named compare/report were shadowed by the functions of that name.
    workflows = importlib.import_module("fmood.workflows")
    assert callable(workflows.compare) and workflows.compare is compare
    assert callable(workflows.report) and workflows.report is report
    for old in ("fmood.workflows.compare", "fmood.workflows.report"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)
    assert importlib.import_module("fmood.workflows.comparison").compare is compare
    assert importlib.import_module("fmood.workflows.ood_report").report is report


def test_old_module_paths_warn_and_give_the_moved_names():
    old_measures = importlib.import_module("fmood.workflows.compare_measures")
    with pytest.warns(DeprecationWarning, match="comparison.measures.label_strings"):
        assert old_measures.labels_of is label_strings
    old_output = importlib.import_module("fmood.workflows.compare_output")
    with pytest.warns(DeprecationWarning, match="comparison.output.RANKINGS"):
        assert old_output.RANKINGS is RANKINGS
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = old_output.nothing


def test_domain_classifier_without_groups_is_fmoods_domain_classifier():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(60, 8)), rng.normal(0.4, 1.0, size=(40, 8))
    ours = domain_classifier_auroc(A, B, seed=3)
    assert not ours.group_aware and ours.n_splits == 5
    assert ours.auroc == DomainClassifier(A, B, rng=np.random.default_rng(3)).value


def test_domain_classifier_folds_keep_patients_whole():
    # Each patient's rows are near-duplicates around its own centre; reference and target
    # patients come from one distribution. Row-wise folds recognise patients (AUROC near 1);
    # patient-wise folds cannot, so they see no shift.
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(20, 32)) * 3

    def rows(patients):
        X = np.concatenate([centres[p] + 0.05 * rng.normal(size=(6, 32)) for p in patients])
        return X, np.repeat([f"p{p}" for p in patients], 6)

    A, groups_a = rows(range(12))
    B, groups_b = rows(range(12, 20))
    rowwise = domain_classifier_auroc(A, B, seed=0).auroc
    grouped = domain_classifier_auroc(
        A, B, groups_reference=groups_a, groups_target=groups_b, seed=0
    )
    assert grouped.group_aware and rowwise > 0.9 and grouped.auroc < 0.75


def test_linear_probe_accuracy_drop_and_error_ranking():
    rng = np.random.default_rng(2)
    y = np.repeat(["a", "b"], 40)
    X = rng.normal(size=(80, 5)) + np.where(y == "a", -2.0, 2.0)[:, None]
    # Target: the first 10 images are shifted across the class boundary and get the
    # OOD evidence; the other 20 are like the reference.
    y_t = np.repeat(["a", "b"], 15)
    X_t = rng.normal(size=(30, 5)) + np.where(y_t == "a", -2.0, 2.0)[:, None]
    X_t[:10] += 4.0
    evidence = np.r_[np.full(10, 5.0), np.zeros(20)]
    probe = linear_probe(X, y.astype(object), X_t, y_t.astype(object), evidence, seed=0)
    assert probe.reference_accuracy == 1.0 and probe.n_held_out == 24
    wrong = probe.n_target_errors
    assert wrong == 10 and probe.target_accuracy == pytest.approx(20 / 30)
    assert probe.accuracy_drop == pytest.approx(1 - 20 / 30)
    assert probe.error_auroc == 1.0
    errors = np.r_[np.ones(10), np.zeros(20)]
    assert probe.error_aurc == pytest.approx(aurc(evidence, errors))
    with pytest.raises(InvalidInputError, match="single label"):
        linear_probe(X, np.full(80, "a", dtype=object), X_t, y_t.astype(object), evidence)


def test_label_strings_name_one_class_one_way():
    values = pd.Series([1.0, 2.0, float("nan"), 3.5])
    assert label_strings(values).tolist() == ["1", "2", None, "3.5"]
    assert label_strings(pd.Series(["x", None])).tolist() == ["x", None]


def test_ranked_table_orders_by_the_chosen_column_missing_last():
    rows = [
        {"backbone": b, "weights": "pretrained", "separability": s, "accuracy_drop": d}
        for b, s, d in (("a", 0.7, 0.1), ("b", float("nan"), 0.0), ("c", 0.9, 0.3), ("d", 0.7, 0.2))
    ]
    for row in rows:
        row.update({c: 0 for c in COLUMNS if c not in row and c != "rank"})
    assert ranked_table(rows, "separability", with_labels=True)["backbone"].tolist() == [
        "c",
        "a",
        "d",
        "b",
    ]
    by_drop = ranked_table(rows, "accuracy_drop", with_labels=False)
    assert by_drop["backbone"].tolist() == ["b", "a", "d", "c"]
    assert "accuracy_drop" not in by_drop.columns and by_drop["rank"].tolist() == [1, 2, 3, 4]


def test_page_escapes_names_and_paths():
    row = {c: 0.5 for c in COLUMNS}
    row.update(
        rank=1,
        backbone="<img src=x onerror=alert(1)>",
        weights="given",
        throughput_measured_on="x",
        weights_sha256="abc",
    )
    table = pd.DataFrame([row])[[c for c in COLUMNS if c not in LABEL_COLUMNS]]
    detail = {
        "backbone": row["backbone"],
        "fingerprint": {"name": "<b>n</b>", "weights_sha256": None, "preprocessing": ""},
    }
    setup = {
        "reference": "<script>x</script>",
        "target": "t",
        "seed": 0,
        "alpha": 0.05,
        "label_column": None,
        "store_root": "e",
    }
    page = render_html(table, ["<i>line</i>"], setup, [detail], "now")
    assert "<img" not in page and "<script" not in page and "<b>n" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;i&gt;line" in page


def test_page_table_fits_a_narrow_window():
    # issue 12: the table ran off a 1400 px window (one line per header, nowrap text).
    row = {c: 0.5 for c in COLUMNS}
    row.update(
        rank=1, backbone="b", weights="given", throughput_measured_on="x", weights_sha256="abc"
    )
    table = pd.DataFrame([row])[list(COLUMNS)]
    detail = {
        "backbone": "b",
        "fingerprint": {"name": "n", "weights_sha256": None, "preprocessing": ""},
    }
    setup = {
        "reference": "r",
        "target": "t",
        "seed": 0,
        "alpha": 0.05,
        "label_column": "y",
        "store_root": "e",
    }
    page = render_html(table, [], setup, [detail], "now")
    assert "table.comparison th { white-space: normal;" in page
    assert '<td class="text wrap">x</td>' in page  # the long "timed on" text wraps
    assert "position: sticky" in page  # rank and backbone stay when the table scrolls


def test_a_subsampled_domain_classifier_keeps_the_old_seed_order():
    """The fold seed is the seed's first draw and the subsample the next ones (fmood 0.1):
    splitting the measure onto DomainClassifier must not change compare's AUROC above the cap."""
    from fmood.distances.classifier import DomainClassifier
    from fmood.workflows.comparison.measures import domain_classifier_auroc

    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(300, 8)), rng.normal(size=(200, 8)) + 0.15
    draws = np.random.default_rng(3)
    draws.integers(2**31)
    keep_a = np.sort(draws.choice(300, size=150, replace=False))
    keep_b = np.sort(draws.choice(200, size=150, replace=False))
    expected = DomainClassifier(A[keep_a], B[keep_b], rng=np.random.default_rng(3), C=0.1).value
    measured = domain_classifier_auroc(A, B, seed=3, max_samples=150)
    assert measured.auroc == expected and (measured.n_reference, measured.n_target) == (150, 150)
