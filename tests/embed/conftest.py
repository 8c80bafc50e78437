"""Fixtures of the extraction tests: a tiny backbone and a dataset folder per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from embed.helpers import make_folder, tiny_backbone

from fmood.backbones import ModuleBackbone


@pytest.fixture(scope="session")
def backbone() -> ModuleBackbone:
    return tiny_backbone()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "data")


@pytest.fixture
def good_folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "good", bad=False)
