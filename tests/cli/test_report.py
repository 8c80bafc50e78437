from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    import numpy as np
    from PIL import Image
    from realimages import brain_slices, chest_crops

    root = tmp_path_factory.mktemp("cli_report")
    for name, images in (("ref", brain_slices(40)), ("target", chest_crops(6))):
        (root / name).mkdir()
        for i, pixels in enumerate(images):
            Image.fromarray((pixels * 255).astype(np.uint8)).save(root / name / f"{i}.png")
    (root / "unreadable").mkdir()
    (root / "unreadable" / "a.png").write_bytes(b"not a png")
    return root


def test_report_writes_and_prints_where(cli, folders, tmp_path):
    out = tmp_path / "report"
    result = cli(
        "report",
        "--reference",
        folders / "ref",
        "--target",
        folders / "target",
        "--out",
        out,
        "--backbone",
        "efficientnet-lite0",
        "--device",
        "cpu",
        "--store-root",
        tmp_path / "emb",
        "--no-progress",
        "--top",
        "3",
    )
    assert result.code == 0, result.err
    assert str(out / "report.html") in result.out
    assert {p.name for p in out.iterdir()} == {
        "report.html",
        "scores.csv",
        "summary.json",
        ".fmood-outputs.json",
    }


@pytest.mark.parametrize(
    "case, message",
    [
        ("unreadable", "could be embedded (1 failed)"),
        ("missing", "no such folder"),
        ("out_is_file", "is a file"),
        ("no_backbone", "name a backbone"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(cli, folders, tmp_path, case, message):
    target = folders / "target"
    out = tmp_path / "report"
    args = ["--backbone", "efficientnet-lite0"]
    if case == "unreadable":
        target = folders / "unreadable"
    elif case == "missing":
        target = tmp_path / "nope"
    elif case == "out_is_file":
        out.write_text("keep me")
    else:
        args = []
    result = cli(
        "report",
        "--reference",
        folders / "ref",
        "--target",
        target,
        "--out",
        out,
        "--device",
        "cpu",
        "--store-root",
        tmp_path / "emb",
        "--no-progress",
        *args,
    )
    assert result.code == 2
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.err
    if case == "out_is_file":
        assert out.read_text() == "keep me"
    else:
        assert not Path(out).exists()
