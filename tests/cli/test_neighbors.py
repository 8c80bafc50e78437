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
    result = cli("neighbors", "--store", store_dir, "--query", own_rows, "--rows", "0,2",
                 "-k", 3, "--csv", out)
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
    assert blocks[0].splitlines()[1].split() == ["rank", "id", "distance", "path", "site",
                                                 "patient"]
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
