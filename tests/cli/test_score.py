from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fmood.cli.inputs import EmbeddingSource
from fmood.cli.score import scores_table


def test_shifted_target_is_flagged_and_fresh_data_mostly_not(cli, data, detector_dir, tmp_path):
    shares = {}
    for name in ("shifted", "in_dist"):
        out = tmp_path / f"{name}.csv"
        result = cli("score", "--detector", detector_dir, data[name], "--out", out)
        assert result.code == 0, result.err
        table = pd.read_csv(out)
        assert len(table) == 150 and table["row"].tolist() == list(range(150))
        assert {"p_combined", "degree", "surprise", "flagged"} <= set(table.columns)
        shares[name] = table["flagged"].mean()
        assert f"flagged at FDR 0.05: {table['flagged'].sum()} of 150" in result.out
        assert f"median {table['degree'].median():.4f}" in result.out
        top_row = int(table.loc[table["surprise"].idxmax(), "row"])
        assert "most OOD rows:" in result.out
        top_block = result.out.split("most OOD rows:\n")[1].splitlines()
        assert len(top_block) == 1 + 5 and top_block[1].split()[0] == str(top_row)
    assert shares["shifted"] > 0.9
    assert shares["in_dist"] < 0.1


def test_store_target_carries_its_metadata(cli, store_dir, detector_dir, tmp_path):
    out = tmp_path / "scores.csv"
    result = cli("score", "--detector", detector_dir, store_dir, "--out", out, "--alpha", 0.1)
    assert result.code == 0, result.err
    table = pd.read_csv(out)
    assert list(table.columns[:4]) == ["row", "path", "site", "patient"]
    assert table["path"].tolist() == [f"img{i:03d}.png" for i in range(120)]
    assert "flagged at FDR 0.1:" in result.out and " path " in result.out


def test_metadata_clashing_with_a_score_column_is_renamed():
    source = EmbeddingSource(
        Path("store"),
        np.zeros((2, 3), np.float32),
        pd.DataFrame({"path": ["a", "b"], "degree": [1, 2]}),
    )
    assessed = pd.DataFrame({"degree": [0.1, 0.9], "flagged": [False, True]})
    table = scores_table(source, assessed)
    assert list(table.columns) == ["row", "path", "meta_degree", "degree", "flagged"]


def test_wrong_dimension_names_both_sides(cli, data, detector_dir, tmp_path):
    out = tmp_path / "s.csv"
    result = cli("score", "--detector", detector_dir, data["other_dim"], "--out", out)
    assert result.code == 2
    assert f"{data['other_dim']} holds 8-d embeddings" in result.err
    assert f"detector in {detector_dir} was fitted on 16-d" in result.err
    assert not out.exists()


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"--detector": "missing_detector"}, "detector.json: missing; not a saved OODDetector"),
        ({"target": "missing.npy"}, "missing.npy: no such file or directory"),
        ({"--out": "file/scores.csv"}, "cannot write --out .*file/scores.csv: .*file is a file"),
        ({"--alpha": 1.5}, r"alpha must be in \(0, 1\)"),
    ],
)
def test_user_errors(cli, data, detector_dir, tmp_path, replace, message):
    (tmp_path / "file").write_text("x")
    args = {
        "--detector": detector_dir,
        "target": data["shifted"],
        "--out": tmp_path / "scores.csv",
        "--alpha": 0.05,
    }
    args.update({k: v if k == "--alpha" else tmp_path / v for k, v in replace.items()})
    target = args.pop("target")
    result = cli("score", target, *[part for pair in args.items() for part in pair])
    assert result.code == 2
    assert len(result.err.splitlines()) == 1
    assert re.search(message, result.err), result.err
    assert not (tmp_path / "scores.csv").exists()


def test_failed_run_keeps_an_earlier_table(cli, data, detector_dir, tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("earlier\n")
    assert cli("score", "--detector", detector_dir, data["other_dim"], "--out", out).code == 2
    assert out.read_text() == "earlier\n"


def test_a_later_chunk_gets_its_own_rows_and_metadata():
    source = EmbeddingSource(
        Path("store"), np.zeros((5, 3), np.float32), pd.DataFrame({"path": list("abcde")})
    )
    table = scores_table(source, pd.DataFrame({"degree": [0.1, 0.9]}), start=3)
    assert table["row"].tolist() == [3, 4] and table["path"].tolist() == ["d", "e"]


def test_an_npz_or_a_3d_array_is_refused_without_loading(cli, detector_dir, tmp_path):
    np.savez(tmp_path / "t.npz", a=np.zeros((2, 16)))
    np.save(tmp_path / "cube.npy", np.zeros((2, 4, 16), np.float32))
    for name, message in (("t.npz", "is an .npz archive"), ("cube.npy", "must be 2-D")):
        result = cli(
            "score", tmp_path / name, "--detector", detector_dir, "--out", tmp_path / "s.csv"
        )
        assert result.code == 2 and message in result.err, result.err
    assert not (tmp_path / "s.csv").exists()
