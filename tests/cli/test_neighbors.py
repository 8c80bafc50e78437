from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from fmood.store import FeatureStore


@pytest.fixture
def own_rows(store_dir, tmp_path):
    """Store vectors 3, 7 and 11 saved as queries 0, 1, 2: each is its own nearest neighbour."""
    path = tmp_path / "queries.npy"
    np.save(path, np.asarray(FeatureStore.open(store_dir).embeddings[[3, 7, 11]]))
    return path


def test_neighbours_of_chosen_rows(cli, store_dir, own_rows, tmp_path):
    out = tmp_path / "nb.csv"
    result = cli(
        "neighbors",
        "--store",
        store_dir,
        "--query",
        own_rows,
        "--rows",
        "0,2",
        "-k",
        3,
        "--csv",
        out,
    )
    assert result.code == 0, result.err
    table = pd.read_csv(out)
    assert len(table) == 6 and table["query"].tolist() == [0, 0, 0, 2, 2, 2]
    assert table["rank"].tolist() == [1, 2, 3, 1, 2, 3]
    nearest = table[table["rank"] == 1]
    assert nearest["id"].tolist() == [3, 11]
    assert nearest["path"].tolist() == ["img003.png", "img011.png"]
    assert np.allclose(nearest["distance"], 0, atol=1e-3)
    assert {"site", "patient"} <= set(table.columns)
    blocks = result.out.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["query row 0:", "query row 2:"]
    assert blocks[0].splitlines()[1].split() == [
        "rank",
        "id",
        "distance",
        "path",
        "site",
        "patient",
    ]
    assert blocks[0].splitlines()[2].split()[:2] == ["1", "3"]


def test_all_rows_by_default(cli, store_dir, own_rows):
    result = cli("neighbors", "--store", store_dir, "--query", own_rows)
    assert result.code == 0, result.err
    assert result.out.count("query row ") == 3
    assert len(result.out.split("\n\n")[0].splitlines()) == 2 + 8  # title, header, k=8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rows", "0,3"], r"--rows \[3\] out of range: the query has 3 rows"),
        (["-k", "500"], "k=500 neighbours asked for"),
        (["-k", "0"], "k must be a positive integer"),
    ],
)
def test_user_errors(cli, store_dir, own_rows, args, message):
    result = cli("neighbors", "--store", store_dir, "--query", own_rows, *args)
    assert result.code == 2
    assert result.err.startswith("fmood: error: ")
    assert re.search(message, result.err), result.err


def test_not_a_store_and_wrong_dimension(cli, data, store_dir, tmp_path):
    result = cli("neighbors", "--store", tmp_path, "--query", data["shifted"])
    assert result.code == 2 and "is not an fmood feature store" in result.err
    result = cli("neighbors", "--store", store_dir, "--query", data["other_dim"])
    assert result.code == 2
    assert f"{data['other_dim']} holds 8-d embeddings, but the store" in result.err


@pytest.fixture
def wide_store(tmp_path):
    """A store as `fmood embed` writes it: long absolute paths, a SHA-256 per file."""
    rng = np.random.default_rng(0)
    folder = tmp_path / ("deep_folder_name_" * 6)
    path = tmp_path / "wide_store"
    store = FeatureStore.create(path, 8)
    store.add(
        rng.normal(size=(12, 8)).astype(np.float32),
        {
            "path": [str(folder / f"patient_{i}" / f"scan_{i:03d}.dcm") for i in range(12)],
            "file_sha256": [f"{i:064x}" for i in range(12)],
            "patient": [f"p{i}" for i in range(12)],
            "Modality": ["CT"] * 12,
            "Manufacturer": ["A very long manufacturer name, Inc."] * 6 + ["Other"] * 6,
            "ManufacturerModelName": [f"Model {i} " * 4 for i in range(12)],
        },
    )
    return path


def test_output_is_compact_shows_the_query_and_what_was_written(cli, wide_store, tmp_path):
    # issue 12: 346-character lines with a 64-character hash, no query metadata, no
    # "wrote" line.
    out = tmp_path / "nb.csv"
    result = cli(
        "neighbors",
        "--store",
        wide_store,
        "--query",
        wide_store,
        "--rows",
        "0,5",
        "-k",
        4,
        "--csv",
        out,
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert max(map(len, lines)) <= 100
    assert f"{0:064x}" not in result.out and "file_sha256" not in result.out
    assert lines[0] == "query row 0:"
    assert lines[1].startswith("  path=...") and "scan_000.dcm, patient=p0" in lines[1]
    assert "all: Modality=CT" in result.out
    assert lines[-1] == f"wrote csv: {out}"
    assert "file_sha256" in pd.read_csv(out).columns  # every column stays in the CSV
