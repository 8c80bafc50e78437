import pytest

from fmood.errors import InvalidInputError
from fmood.utils.fingerprint import Fingerprint, as_fingerprint


def test_round_trip_and_equality():
    fp = Fingerprint("dinov2-base", "a" * 64, "resize224,center-crop,imagenet-norm")
    assert Fingerprint.from_dict(fp.to_dict()) == fp
    assert fp.to_dict() == {
        "name": "dinov2-base",
        "weights_sha256": "a" * 64,
        "preprocessing": "resize224,center-crop,imagenet-norm",
    }
    assert fp != Fingerprint("dinov2-base", "a" * 64, "resize256")
    assert fp != Fingerprint("dinov2-base", "b" * 64, fp.preprocessing)
    assert as_fingerprint(fp.to_dict()) == fp
    assert as_fingerprint(None) is None


def test_describe_names_backbone_and_short_hash():
    text = Fingerprint("biomedclip", "0123456789abcdef" * 4, "clip").describe()
    assert "biomedclip" in text and "0123456789ab" in text and "'clip'" in text


@pytest.mark.parametrize(
    "bad",
    [
        {"weights_sha256": None},
        {"name": "x", "colour": "red"},
        "dinov2",
        {"name": ""},
        {"name": "x", "preprocessing": 3},
    ],
)
def test_bad_dicts_are_refused(bad):
    with pytest.raises(InvalidInputError):
        Fingerprint.from_dict(bad)
