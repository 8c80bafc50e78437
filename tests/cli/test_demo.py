from __future__ import annotations

from pathlib import Path

from fmood.cli.demo import headline


def test_demo_runs_run_demo_and_prints_its_headline(cli, tmp_path, monkeypatch):
    calls = []

    def fake_run_demo(out_dir: Path, *, backbone: str, device: str, progress: bool) -> dict:
        calls.append((out_dir, backbone, device, progress))
        out_dir.mkdir(parents=True)
        (out_dir / "scores.csv").write_text("row\n")
        (out_dir / "detector").mkdir()
        return {
            "n_target": 10,
            "flagged_share": 0.31234,
            "by_shift": {"none": {"n": 5, "auroc": None}, "artifact": {"n": 5, "auroc": 0.9}},
        }

    monkeypatch.setattr("fmood_bench.demo.run_demo", fake_run_demo)
    out = tmp_path / "demo-out"
    result = cli("demo", "--out", out)
    assert result.code == 0, result.err
    assert calls == [(out, "efficientnet-lite0", "auto", True)]
    lines = result.out.splitlines()
    assert lines[0] == f"demo outputs in {out}: detector/, scores.csv"
    assert lines[1:3] == ["n_target: 10", "flagged_share: 0.312"]


def test_headline_shapes():
    text = headline(
        {
            "alpha": 0.05,
            "by_severity": {0: 0.45, 1: 0.571},
            "by_shift": {
                "none": {"n": 216, "auroc": None},
                "artifact": {"n": 1080, "auroc": 0.8631},
            },
            "distances": {"none": {"mmd": {"value": 0.1}}},
        }
    )
    lines = text.splitlines()
    assert lines[:3] == ["alpha: 0.05", "by_severity: 0=0.45, 1=0.571", "by_shift:"]
    assert lines[4].split() == ["none", "216", "-"]
    assert lines[5].split() == ["artifact", "1080", "0.863"]
    assert "distances" not in text  # nested deeper: left to summary.json


def test_default_out_dir(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("fmood_bench.demo.run_demo", lambda out, **kwargs: out.mkdir() or {})
    assert cli("demo").code == 0
    assert (tmp_path / "fmood-demo-out").is_dir()


def test_a_missing_demo_package_is_the_one_line_missing_extra_error(cli, tmp_path, monkeypatch):
    def no_nilearn(out_dir, **kwargs):
        raise ModuleNotFoundError("No module named 'nilearn'", name="nilearn")

    monkeypatch.setattr("fmood_bench.demo.run_demo", no_nilearn)
    result = cli("demo", "--out", tmp_path / "demo")
    assert result.code == 2
    assert result.err.splitlines() == [
        "fmood: error: fmood demo needs the package 'nilearn', which the core install leaves "
        "out: pip install 'fmood[demo]' (or 'fmood[all]')"
    ]
