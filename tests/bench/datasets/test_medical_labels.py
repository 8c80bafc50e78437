import pandas as pd
import pytest

from fmood.errors import InvalidInputError
from fmood_bench.datasets.medical import LEVELS, axial_level


def test_levels_follow_the_axial_index_and_only_t1_slices_get_one():
    manifest = pd.DataFrame(
        {
            "shift": ["reference", "id", "artifact-noise", "artifact-noise", "ct", "mr-epi", "id"],
            "source_frame": pd.array([20, 66, 99, 100, pd.NA, 10, pd.NA], dtype="Int64"),
        },
        index=[5, 6, 7, 8, 9, 10, 11],
    )
    levels = axial_level(manifest)
    assert levels.index.equals(manifest.index) and levels.name == "level"
    assert levels.iloc[:4].tolist() == ["inferior", "middle", "middle", "superior"]
    assert levels.iloc[4:].isna().all()
    assert set(LEVELS) == {"inferior", "middle", "superior"}


def test_missing_columns_are_named():
    with pytest.raises(InvalidInputError, match="source_frame"):
        axial_level(pd.DataFrame({"shift": ["id"]}))
