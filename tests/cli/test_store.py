"""``fmood store verify``: ok with notes, one line per problem and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fmood.cli.main import main
from fmood.store import FeatureStore


@pytest.fixture
def store(tmp_path):
    s = FeatureStore.create(tmp_path / "s", 4, metric="l2")
    for part in range(2):
        s.add(np.full((3, 4), part + 1.0), {"path": [f"p{part}_{i}" for i in range(3)]})
    return s.path


def test_a_sound_store_is_ok(cli, store):
    result = cli("store", "verify", store)
    assert result.code == 0 and result.err == ""
    assert result.out == (
        f"{store}: ok, 6 vectors of dim 4, every recorded size, row count and checksum matches\n"
    )


def test_each_problem_is_one_line_and_exit_is_2(cli, store):
    with open(store / "vectors.f32", "r+b") as f:
        f.write(b"\x00\x00\x80\x7f")  # row 0 of the first add
    part = store / "metadata" / "part-000001.parquet"
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF  # in the first column's data: same size, same footer, other bytes
    part.write_bytes(bytes(data))
    result = cli("store", "verify", store)
    assert result.code == 2
    lines = result.out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{store}/vectors.f32: rows 0 to 3 do not match the sha256")
    assert lines[1].startswith(f"{part}: does not match the sha256")
    assert result.err == (
        f"fmood: error: {store}: 2 problem(s) found (above); restore the store from a backup\n"
    )


def test_a_store_that_does_not_open_is_a_problem_too(cli, store):
    raw = json.loads((store / "manifest.json").read_text())
    raw["dim"] = 2
    (store / "manifest.json").write_text(json.dumps(raw))
    result = cli("store", "verify", store)
    assert result.code == 2
    assert "vectors.f32" in result.out and "was dim or count edited" in result.out


def test_an_old_store_says_what_was_not_checked(cli, store):
    raw = json.loads((store / "manifest.json").read_text())
    del raw["checksums"]
    (store / "manifest.json").write_text(json.dumps(raw))
    result = cli("store", "verify", store)
    assert result.code == 0
    assert "note: " in result.out and "records no checksums" in result.out


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["store", "verify", "--help"])
    assert info.value.code == 0
    assert "exit:   0 when the store is sound, 2 on a problem" in capsys.readouterr().out
