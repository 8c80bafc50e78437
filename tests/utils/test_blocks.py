"""The layer-block layout rule shared by backbones, stores and the block scorer."""

import pytest

from fmood.errors import InvalidInputError
from fmood.utils.blocks import FINAL_BLOCK, check_blocks


def test_valid_blocks_come_back_as_a_tuple_of_pairs():
    assert check_blocks([["stage1", 2], ("final", 3)], dim=5) == (("stage1", 2), ("final", 3))
    assert check_blocks(((FINAL_BLOCK, 7),)) == (("final", 7),)  # no dim: widths unchecked


@pytest.mark.parametrize(
    "blocks, dim, complaint",
    [
        (3, None, "sequence of \\(name, width\\) pairs"),
        ([("a", 1, 2)], None, "sequence of \\(name, width\\) pairs"),
        ([], None, "non-empty name, positive integer width"),
        ([("", 1)], None, "non-empty name"),
        ([("a", 0)], None, "positive integer width"),
        ([("a", True)], None, "positive integer width"),  # a bool is not a width
        ([("a", 1.0)], None, "positive integer width"),
        ([("a", 1), ("a", 2)], None, "block names repeat: \\['a', 'a'\\]"),
        ([("a", 1), ("b", 2)], 4, "add up to 3, not dim 4"),
    ],
)
def test_invalid_blocks_name_the_broken_rule(blocks, dim, complaint):
    with pytest.raises(InvalidInputError, match=complaint):
        check_blocks(blocks, dim)
