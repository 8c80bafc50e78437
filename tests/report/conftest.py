"""Session fixtures: a reference, a shifted and an in-distribution target, and their reports."""

from __future__ import annotations

import pytest
from report.helpers import DIM, N_REFERENCE, N_TARGET, QUICK, SCRIPT_NAME, make_store, write_png
from synthetic import clustered

from fmood.report import build_report
from fmood.store import FeatureStore


@pytest.fixture(scope="session")
def reference_store(tmp_path_factory) -> FeatureStore:
    root = tmp_path_factory.mktemp("reference")
    return make_store(root, "reference", clustered(N_REFERENCE, d=DIM, seed=0), sites=("A", "B"))


@pytest.fixture(scope="session")
def shifted_store(tmp_path_factory) -> FeatureStore:
    """A shifted target whose three most OOD images are: a file named like a script tag, a
    missing file and a corrupt file."""
    root = tmp_path_factory.mktemp("shifted")
    X = clustered(N_TARGET, d=DIM, shift=6.0, seed=2)
    X[0, 1] += 40.0  # three distinct directions: three distinct most-OOD cases
    X[1, 2] += 30.0
    X[2, 3] += 20.0
    paths = [root / "shifted" / f"img{i:04d}.png" for i in range(N_TARGET)]
    paths[0] = root / SCRIPT_NAME
    for i, path in enumerate(paths):
        if i != 1:
            write_png(path, seed=1000 + i)
    paths[1] = root / "missing.png"
    paths[2].write_bytes(b"this is not a PNG")
    return make_store(root, "shifted", X, sites=("A", "C"), paths=paths)


@pytest.fixture(scope="session")
def in_dist_store(tmp_path_factory) -> FeatureStore:
    root = tmp_path_factory.mktemp("in_dist")
    return make_store(root, "in_dist", clustered(N_TARGET, d=DIM, seed=1), sites=("A", "B"))


@pytest.fixture(scope="session")
def shifted_report(tmp_path_factory, reference_store, shifted_store):
    out = tmp_path_factory.mktemp("reports") / "shifted"
    return build_report(reference_store, shifted_store, out, **QUICK)


@pytest.fixture(scope="session")
def in_dist_report(tmp_path_factory, reference_store, in_dist_store):
    out = tmp_path_factory.mktemp("reports") / "in_dist"
    return build_report(reference_store.path, in_dist_store.path, out, **QUICK)
