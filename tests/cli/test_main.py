from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fmood
from fmood.cli.main import describe, main

REPO = Path(__file__).resolve().parents[2]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert fmood.__version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", ["fit", "score", "distance", "neighbors", "demo", "embed"])
def test_each_command_help_says_what_it_reads_writes_and_shows_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "reads:" in text and "writes:" in text and f"fmood {command} " in text


def test_usage_errors_exit_2(capsys):
    for argv in ([], ["frobnicate"], ["score", "target.npy"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    capsys.readouterr()


def test_user_error_is_one_line_without_traceback(cli, tmp_path):
    missing = tmp_path / "nope.npy"
    result = cli("fit", missing, "--out", tmp_path / "det")
    assert result.code == 2
    assert result.err.splitlines() == [
        f"fmood: error: {missing}: no such file or directory; "
        "expected a .npy file or a feature store"
    ]


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(cli, tmp_path, where):
    args = ["fit", tmp_path / "nope.npy", "--out", tmp_path / "det"]
    result = cli(*(["--debug", *args] if where == "before" else [*args, "--debug"]))
    assert result.code == 2
    assert "Traceback (most recent call last)" in result.err
    assert result.err.rstrip().splitlines()[-1].startswith("fmood: error: ")


def test_unexpected_exception_is_an_internal_error(cli, tmp_path, monkeypatch):
    def broken(out_dir, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("fmood_bench.demo.run_demo", broken)
    result = cli("demo", "--out", tmp_path / "demo")
    assert result.code == 1
    assert "Traceback" not in result.err
    assert result.err.startswith("fmood: internal error: RuntimeError: boom")
    assert "--debug" in result.err


def test_describe_names_the_file_of_an_os_error():
    err = FileNotFoundError(2, "No such file or directory", "/data/x.npy")
    assert describe(err) == "/data/x.npy: No such file or directory"
    assert describe(ValueError("two\nlines")) == "two lines"


def test_console_script_exit_code_and_clean_stderr(data, detector_dir, tmp_path):
    out = tmp_path / "s.csv"
    # PYTHONPATH: the checkout is what runs, whatever state the installed package is in.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fmood.cli.main",
            "score",
            "--detector",
            str(detector_dir),
            str(data["other_dim"]),
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("fmood: error: ") and "8-d" in result.stderr
    assert not out.exists()


HEAVY = (
    "numpy",
    "pandas",
    "scipy",
    "sklearn",
    "faiss",
    "pyarrow",
    "pydicom",
    "torch",
    "transformers",
    "open_clip",
    "timm",
    "matplotlib",
    "PIL",
)


def test_building_the_parser_imports_nothing_heavy():
    # issue 12: `fmood --help` took 7-10 s importing torch, scipy, pandas... for a parser.
    code = (
        "import sys; from fmood.cli.main import build_parser; build_parser(); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_import_fmood_is_lazy_but_complete():
    code = (
        "import sys, fmood; print('numpy' in sys.modules); "
        "print(all(getattr(fmood, n) is not None for n in fmood.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        fmood.missing  # noqa: B018
