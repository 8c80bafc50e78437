"""``fmood embed``: happy path, resume, failures, exit codes and one-line errors."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from embed.helpers import BAD, FRAMES, make_folder, n_frames, tiny_backbone

from fmood.backbones import available_backbones, register_backbone
from fmood.cli.embed import parse_window
from fmood.cli.main import main
from fmood.store import FeatureStore

#: Options the registered test backbone was last built with.
RECEIVED: dict[str, object] = {}


def _tiny_factory(name, weights=None, device="auto", **options):
    RECEIVED.clear()
    RECEIVED.update(weights=weights, device=device, **options)
    return tiny_backbone(name="tiny-cli")


@pytest.fixture(scope="module", autouse=True)
def tiny_registered():
    if "tiny-cli" not in available_backbones():
        register_backbone("tiny-cli", _tiny_factory)


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "data")


def _embed(cli, folder, store, *extra):
    return cli(
        "embed",
        "--backbone",
        "tiny-cli",
        "--data",
        folder,
        "--store",
        store,
        "--workers",
        0,
        "--no-progress",
        *extra,
    )


def test_help_says_what_it_reads_writes_and_shows_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["embed", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "reads:" in text and "writes:" in text and "fmood embed --backbone" in text
    assert "lung" in text and "precomputed" in text


def test_happy_path_prints_the_summary_and_writes_store_and_failures(cli, folder, tmp_path):
    result = _embed(cli, folder, tmp_path / "store", "--batch-size", 4)
    assert result.code == 0, result.err
    assert f"Embedded {n_frames()} images from {len(FRAMES)} of" in result.out
    assert f"{len(BAD)} files could not be embedded" in result.out
    assert RECEIVED == {"weights": None, "device": "auto"}  # no backbone option unless given
    store = FeatureStore.open(tmp_path / "store")
    assert len(store) == n_frames()
    failures = pd.read_csv(tmp_path / "store.failures.csv")
    assert sorted(map(os.path.basename, failures["path"])) == sorted(BAD)

    again = _embed(cli, folder, tmp_path / "store")
    assert again.code == 0, again.err
    assert f"{len(FRAMES)} files already in the store were skipped" in again.out
    assert len(FeatureStore.open(tmp_path / "store")) == n_frames()


def test_no_paths_keeps_file_names_out_of_the_store_and_resumes(cli, folder, tmp_path):
    result = _embed(cli, folder, tmp_path / "store", "--no-paths")
    assert result.code == 0, result.err
    paths = FeatureStore.open(tmp_path / "store").metadata["path"]
    assert paths.str.fullmatch(r"sha256:[0-9a-f]{64}").all() and len(paths) == n_frames()
    again = _embed(cli, folder, tmp_path / "store", "--no-paths")
    assert f"{len(FRAMES)} files already in the store were skipped" in again.out
    clear = _embed(cli, folder, tmp_path / "store")
    assert clear.code == 2 and "rerun with --no-paths" in clear.err


def test_help_documents_no_paths(capsys):
    with pytest.raises(SystemExit):
        main(["embed", "--help"])
    out = capsys.readouterr().out
    assert "--no-paths" in out and "SHA-256 of each" in out


def test_options_reach_backbone_and_readers(cli, folder, tmp_path):
    result = _embed(
        cli,
        folder,
        tmp_path / "store",
        "--layers",
        "1,2",
        "--pooling",
        "mean",
        "--weights",
        "w.pth",
        "--device",
        "cpu",
        "--window=-600,1500",
        "--max-slices",
        2,
        "--stride",
        1,
        "--axis",
        2,
        "--failures",
        tmp_path / "out" / "failed.csv",
    )
    assert result.code == 0, result.err
    assert RECEIVED == {"weights": "w.pth", "device": "cpu", "layers": "1,2", "pooling": "mean"}
    meta = FeatureStore.open(tmp_path / "store").metadata
    assert meta["path"].str.endswith("vol.nii.gz").sum() == 2
    assert meta.loc[meta["path"].str.endswith("ct.dcm"), "voi"].tolist() == ["[-600.0,1500.0]"]
    assert len(pd.read_csv(tmp_path / "out" / "failed.csv")) == len(BAD)


def test_nothing_embeddable_exits_2_with_one_line_and_no_store(cli, tmp_path):
    data = tmp_path / "bad"
    data.mkdir()
    (data / "empty.png").write_bytes(b"")
    (data / "text.dcm").write_text("no DICOM here\n" * 20)
    result = _embed(cli, data, tmp_path / "store")
    assert result.code == 2 and result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fmood: error: no file could be embedded")
    assert "empty.png" in lines[0] and "store.failures.csv" in lines[0]
    assert not (tmp_path / "store").exists()


def test_strict_exits_2_naming_the_file(cli, folder, tmp_path):
    result = _embed(cli, folder, tmp_path / "store", "--strict")
    assert result.code == 2
    assert result.err.count("\n") == 1 and "broken.nii.gz" in result.err  # first bad, in order
    assert "strict" in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backbone", "nope"], "unknown backbone 'nope'"),
        (["--data", "missing_dir"], "missing_dir: no such folder"),
    ],
)
def test_user_errors_are_one_line(cli, folder, tmp_path, args, message):
    argv = {"--backbone": "tiny-cli", "--data": str(folder), "--store": str(tmp_path / "s")}
    argv.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = cli("embed", *[x for kv in argv.items() for x in kv], "--no-progress")
    assert result.code == 2
    assert len(result.err.splitlines()) == 1 and message in result.err
    assert not (tmp_path / "s").exists()


def test_another_backbones_store_is_refused(cli, folder, tmp_path):
    FeatureStore.create(tmp_path / "store", 8, {"name": "dinov2-base"})
    result = _embed(cli, folder, tmp_path / "store")
    assert result.code == 2 and "dinov2-base" in result.err and "tiny-cli" in result.err
    assert len(FeatureStore.open(tmp_path / "store")) == 0


def test_store_path_that_is_a_file(cli, folder, tmp_path):
    (tmp_path / "file").write_text("x")
    result = _embed(cli, folder, tmp_path / "file")
    assert result.code == 2 and "--store" in result.err and "is a file" in result.err


@pytest.mark.parametrize(
    "extra",
    [
        ["--window", "lungs"],
        ["--window", "40,0"],
        ["--workers", "-1"],
        ["--batch-size", "0"],
        ["--axis", "3"],
        ["--max-slices", "0"],
        ["--pooling", "max"],
    ],
)
def test_bad_arguments_are_usage_errors(capsys, folder, tmp_path, extra):
    with pytest.raises(SystemExit) as info:
        main(
            [
                "embed",
                "--backbone",
                "tiny-cli",
                "--data",
                str(folder),
                "--store",
                str(tmp_path / "s"),
                *extra,
            ]
        )
    assert info.value.code == 2
    assert "embed: error: argument" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_parse_window():
    assert parse_window("lung") == "lung"
    assert parse_window(" 40, 400 ") == (40.0, 400.0)


@pytest.fixture
def precomputed(tmp_path):
    vectors = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    np.save(tmp_path / "v.npy", vectors)
    pd.DataFrame({"path": list("abcd"), "site": list("ABAB")}).to_csv(
        tmp_path / "m.csv", index=False
    )
    return tmp_path / "v.npy", tmp_path / "m.csv", vectors


def test_precomputed_happy_path_and_resume(cli, precomputed, tmp_path):
    npy, csv, vectors = precomputed
    argv = [
        "embed",
        "--backbone",
        "precomputed:biomedclip",
        "--weights",
        npy,
        "--data",
        csv,
        "--store",
        tmp_path / "store",
        "--no-progress",
    ]
    result = cli(*argv)
    assert result.code == 0, result.err
    assert "Embedded 4 images" in result.out and "precomputed:biomedclip" in result.out
    store = FeatureStore.open(tmp_path / "store")
    np.testing.assert_array_equal(store.embeddings, vectors)
    assert store.metadata["site"].tolist() == list("ABAB")
    again = cli(*argv)
    assert again.code == 0 and "4 files already in the store were skipped" in again.out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--weights": None}, "needs --weights VECTORS.npy"),
        ({"--window": "lung"}, "--window does not apply to precomputed"),
        ({"--layers": "1"}, "--layers does not apply"),
        ({"--no-paths": ""}, "--no-paths does not apply"),
        ({"rows": 3}, "holds 4 vectors but"),
    ],
)
def test_precomputed_errors_are_one_line_and_write_nothing(
    cli, precomputed, tmp_path, change, message
):
    npy, csv, _ = precomputed
    if "rows" in change:
        pd.read_csv(csv).head(change.pop("rows")).to_csv(csv, index=False)
    argv = {
        "--backbone": "precomputed",
        "--weights": str(npy),
        "--data": str(csv),
        "--store": str(tmp_path / "store"),
    }
    argv.update(change)
    flags = [x for k, v in argv.items() if v is not None for x in ((k, v) if v else (k,))]
    result = cli("embed", *flags)
    assert result.code == 2
    assert len(result.err.splitlines()) == 1 and message in result.err
    assert not (tmp_path / "store").exists()


def test_cli_constants_match_the_library():
    from fmood.backbones.precomputed import PRECOMPUTED
    from fmood.backbones.registry import _BUILTIN, _PREFIXES
    from fmood.cli import embed

    assert embed.PRECOMPUTED == PRECOMPUTED
    # The built-in names only: tests register tiny backbones of their own in the registry.
    for name in [*_BUILTIN, *_PREFIXES]:
        family = name.split("-")[0].split(":")[0]
        assert family in embed.DESCRIPTION, name
