"""fmood's version is written once, in fmood/_version.py, and read from there."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

import fmood
from fmood import _version
from fmood.store import FeatureStore

# The repository's pyproject.toml (fmood may be installed elsewhere, as in make test-core).
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_build_reads_the_version_from_fmood_version():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "fmood._version.__version__"
    }


def test_the_installed_distribution_carries_that_version():
    assert importlib.metadata.version("fmood") == _version.__version__


def test_the_package_and_a_new_store_carry_that_version(tmp_path):
    assert fmood.__version__ == _version.__version__
    FeatureStore.create(tmp_path / "s", dim=2)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["fmood_version"] == _version.__version__
