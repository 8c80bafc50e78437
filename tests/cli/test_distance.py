from __future__ import annotations

import json

import pytest

from fmood.cli.distance import parse_methods
from fmood.cli.main import main
from fmood.distances import available_distances
from fmood.errors import InvalidInputError


def test_ratio_is_larger_for_a_shifted_target(cli, data, tmp_path):
    ratios = {}
    for name in ("in_dist", "shifted"):
        out = tmp_path / f"{name}.json"
        result = cli(
            "distance",
            data["reference"],
            data[name],
            "--method",
            "mmd,frechet",
            "--bootstrap",
            20,
            "--seed",
            1,
            "--json",
            out,
        )
        assert result.code == 0, result.err
        lines = result.out.strip().split("\n\n")[0].splitlines()
        assert lines[0].split() == [
            "method",
            "value",
            "ci_low",
            "ci_high",
            "null_level",
            "ratio",
            "p_value",
        ]
        assert [line.split()[0] for line in lines[1:]] == ["mmd", "frechet"]
        document = json.loads(out.read_text())
        assert document["reference"] == str(data["reference"])
        mmd = document["distances"]["mmd"]
        assert mmd["n_a"] == 300 and mmd["n_b"] == 150 and mmd["params"]["n_bootstrap"] == 20
        assert mmd["ci_low"] <= mmd["value"] <= mmd["ci_high"]
        assert lines[2].split()[-1] == "-"  # frechet has no p-value
        ratios[name] = {m: r["ratio"] for m, r in document["distances"].items()}
    for method in ("mmd", "frechet"):
        assert ratios["shifted"][method] > 5 * max(ratios["in_dist"][method], 1)


def test_each_ratio_is_explained(cli, data, tmp_path):
    # issue 12: mmd 88x beside frechet 1.43x on the same data, with no word on why.
    out = tmp_path / "d.json"
    result = cli(
        "distance",
        data["reference"],
        data["shifted"],
        "--method",
        "mmd,frechet",
        "--bootstrap",
        0,
        "--json",
        out,
    )
    assert result.code == 0, result.err
    _, notes = result.out.strip().split("\n\n")
    text = " ".join(notes.split())
    assert "not comparable across methods" in text
    assert "mmd: unbiased MMD^2" in text and "null level is near 0" in text
    assert "frechet: Frechet distance" in text and "ratio stays near 1" in text
    assert max(map(len, notes.splitlines())) <= 100
    meanings = json.loads(out.read_text())["ratio_meanings"]
    assert set(meanings) == {"mmd", "frechet"} and "bias" in meanings["frechet"]


def test_help_says_ratios_differ_across_methods(capsys):
    with pytest.raises(SystemExit):
        main(["distance", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Ratios are not comparable across methods" in text
    assert "null level is near 0" in text and "ratio stays near 1" in text


def test_default_is_mmd_without_json(cli, data, tmp_path):
    result = cli("distance", data["reference"], data["shifted"], "--bootstrap", 0)
    assert result.code == 0, result.err
    mmd_line = result.out.strip().splitlines()[1].split()
    assert mmd_line[0] == "mmd" and mmd_line[2:4] == ["-", "-"]  # no interval asked for


def test_parse_methods():
    assert parse_methods("all") == available_distances()
    assert parse_methods("mmd, frechet,mmd") == ["mmd", "frechet"]
    with pytest.raises(InvalidInputError, match="unknown distance 'energy'; available: "):
        parse_methods("mmd,energy")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "energy"], "unknown distance 'energy'"),
        (["--bootstrap", "-1"], "n_bootstrap must be an integer >= 0"),
        (["--json", "{file}/d.json"], "cannot write --json"),
    ],
)
def test_user_errors(cli, data, tmp_path, args, message):
    (tmp_path / "file").write_text("x")
    args = [a.format(file=tmp_path / "file") for a in args]
    result = cli("distance", data["reference"], data["shifted"], *args)
    assert result.code == 2
    assert result.err.startswith("fmood: error: ") and message in result.err


def test_wrong_dimension_names_both_files(cli, data):
    result = cli("distance", data["reference"], data["other_dim"])
    assert result.code == 2
    assert (
        f"{data['reference']} holds 16-d embeddings but {data['other_dim']} holds 8-d" in result.err
    )
