"""``fmood compare``: the ranking printed and written, and one-line refusals (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from realimages import brain_slices, chest_crops

from fmood.backbones import ModuleBackbone, Preprocessing, available_backbones, register_backbone
from fmood.cli.main import main
from fmood.workflows.comparison.output import COLUMNS, RANKINGS

TINY = "tiny-compare"


def _tiny_factory(name, weights=None, device="auto", pretrained=True):
    """An 8-d conv encoder: fixed weights, or with ``pretrained=False`` torch's random init."""
    conv = torch.nn.Conv2d(3, 8, 3)
    if pretrained:
        generator = torch.Generator().manual_seed(7)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator))
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator))
    module = torch.nn.Sequential(
        conv, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    return ModuleBackbone(module, Preprocessing(32), name=TINY, device=device)


@pytest.fixture(scope="module", autouse=True)
def tiny_registered():
    if TINY not in available_backbones():
        register_backbone(TINY, _tiny_factory)


def _pngs(folder, images, prefix):
    folder.mkdir(parents=True)
    for i, pixels in enumerate(images):
        Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(
            folder / f"{prefix}_{i:02d}.png"
        )
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare_cli")
    return {
        "reference": _pngs(root / "reference", brain_slices(36), "brain"),
        "target": _pngs(root / "target", chest_crops(8), "chest"),
    }


def _compare(cli, folders, out, store_root, *extra):
    return cli(
        "compare",
        "--backbones",
        f"{TINY},random:{TINY}",
        "--reference",
        folders["reference"],
        "--target",
        folders["target"],
        "--out",
        out,
        "--store-root",
        store_root,
        "--device",
        "cpu",
        "--no-progress",
        "--throughput-sample",
        2,
        *extra,
    )


def test_help_says_what_it_reads_writes_and_what_the_ranking_means(capsys):
    with pytest.raises(SystemExit) as info:
        main(["compare", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "reads:" in text and "writes:" in text and "fmood compare --backbones" in text
    assert "random:NAME" in text and "does not say which backbone" in " ".join(text.split())
    assert all(key in text for key in RANKINGS)


def test_happy_path_prints_the_ranking_and_writes_four_files(cli, folders, tmp_path):
    out, store_root = tmp_path / "out", tmp_path / "embeddings"
    result = _compare(cli, folders, out, store_root)
    assert result.code == 0, result.err
    assert result.out.startswith("fmood compare: 2 backbones ranked by separability")
    assert f"1. {TINY}" in result.out or f"1. random:{TINY}" in result.out
    assert sorted(p.name for p in out.iterdir()) == [
        ".fmood-outputs.json",
        "comparison.csv",
        "comparison.html",
        "comparison.md",
        "summary.json",
    ]
    assert out.joinpath("comparison.csv").read_text().splitlines()[0] == ",".join(
        c
        for c in COLUMNS
        if c
        not in (
            "reference_accuracy",
            "target_accuracy",
            "accuracy_drop",
            "error_auroc",
            "error_aurc",
            "error_augrc",
        )
    )
    summary = json.loads(out.joinpath("summary.json").read_text())
    assert summary["seed"] == 0 and len(summary["backbones"]) == 2
    # A rerun reuses the stores, replaces the comparison, and gives the same numbers.
    again = _compare(cli, folders, out, store_root, "--rank-by", "mmd_ratio")
    assert again.code == 0, again.err
    assert "ranked by mmd_ratio" in again.out
    rerun = json.loads(out.joinpath("summary.json").read_text())
    by_name = {row["backbone"]: row for row in rerun["table"]}
    for row in summary["table"]:
        assert by_name[row["backbone"]]["separability"] == row["separability"]
        assert by_name[row["backbone"]]["mmd_ratio"] == row["mmd_ratio"]
    assert {row["throughput_measured_on"] for row in rerun["table"]} == {
        "2 stored reference images re-embedded in memory (model only)"
    }


def test_unknown_backbone_is_one_line_exit_2_and_writes_nothing(cli, folders, tmp_path):
    result = cli(
        "compare",
        "--backbones",
        f"{TINY},nope",
        "--reference",
        folders["reference"],
        "--target",
        folders["target"],
        "--out",
        tmp_path / "out",
        "--store-root",
        tmp_path / "embeddings",
    )
    assert result.code == 2
    assert result.err.startswith("fmood: error: unknown backbone 'nope'")
    assert len(result.err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_an_out_dir_that_is_not_a_comparison_is_refused(cli, folders, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    result = _compare(cli, folders, mine, tmp_path / "embeddings")
    assert result.code == 2
    assert "holds files fmood did not write (notes.txt)" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert not (tmp_path / "embeddings").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--rank-by", "beauty"), "rank_by must be one of separability"),
        (("--rank-by", "target_accuracy"), "needs a label_column"),
        (("--alpha", "1.5"), "alpha must be in (0, 1)"),
    ],
)
def test_bad_options_are_one_line_exit_2(cli, folders, tmp_path, extra, message):
    result = _compare(cli, folders, tmp_path / "out", tmp_path / "embeddings", *extra)
    assert result.code == 2 and message in result.err
    assert list(tmp_path.iterdir()) == []
