"""Shared CLI fixtures: saved arrays, a feature store, a fitted detector, an in-process runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from synthetic import clustered

from fmood.cli.main import main
from fmood.store import FeatureStore

N_REFERENCE = 300
N_STORE = 120


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``fmood ARGS...`` in-process; return exit code, stdout and stderr."""

    def run(*argv: object) -> Result:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def save(directory: Path, name: str, array: np.ndarray) -> Path:
    path = directory / name
    np.save(path, array)
    return path


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``.npy`` files: reference, fresh in-distribution, shifted, and 8-d embeddings."""
    d = tmp_path_factory.mktemp("data")
    return {
        "reference": save(d, "reference.npy", clustered(N_REFERENCE, seed=0)),
        "in_dist": save(d, "in_dist.npy", clustered(150, seed=1)),
        "shifted": save(d, "shifted.npy", clustered(150, shift=6.0, seed=2)),
        "other_dim": save(d, "other_dim.npy", clustered(20, d=8, seed=3)),
    }


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A feature store of N_STORE 16-d vectors with path, site and patient metadata."""
    path = tmp_path_factory.mktemp("stores") / "reference_store"
    store = FeatureStore.create(path, 16)
    store.add(
        clustered(N_STORE, seed=4),
        {
            "path": [f"img{i:03d}.png" for i in range(N_STORE)],
            "site": ["A" if i % 2 else "B" for i in range(N_STORE)],
            "patient": [i // 3 for i in range(N_STORE)],
        },
    )
    return path


@pytest.fixture(scope="session")
def detector_dir(data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector fitted by ``fmood fit`` on the reference."""
    out = tmp_path_factory.mktemp("detectors") / "detector"
    assert main(["fit", str(data["reference"]), "--out", str(out)]) == 0
    return out
