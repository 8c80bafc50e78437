import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fmood.backbones.preprocessing import CLIP_MEAN, CLIP_STD, Preprocessing
from fmood.errors import InvalidInputError


def test_squash_grey_to_three_channels_and_normalises():
    pixels = np.full((40, 20), 0.5, dtype=np.float32)
    out = Preprocessing(16, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))(pixels)
    assert out.shape == (3, 16, 16) and out.dtype == torch.float32
    np.testing.assert_allclose(out[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[1], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[2], 0.5, atol=1e-6)


def test_squash_equals_torch_antialiased_bilinear():
    rng = np.random.default_rng(0)
    pixels = rng.random((64, 48, 3), dtype=np.float32)
    expected = F.interpolate(
        torch.from_numpy(pixels).permute(2, 0, 1)[None],
        size=(32, 32),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )[0]
    torch.testing.assert_close(Preprocessing(32)(pixels), expected)


def test_crop_takes_the_centre_of_the_resized_shorter_side():
    # A wide image: left and right thirds are 1, the centre 0. Cropping keeps the centre.
    pixels = np.ones((30, 90), dtype=np.float32)
    pixels[:, 30:60] = 0.0
    out = Preprocessing(30, resize="crop")(pixels)
    assert out.shape == (3, 30, 30)
    assert float(out.max()) < 0.05
    # crop_fraction < 1 resizes the shorter side to size / fraction first.
    out = Preprocessing(28, resize="crop", crop_fraction=0.875)(np.ones((64, 64), np.float32))
    assert out.shape == (3, 28, 28)


def test_pad_keeps_aspect_ratio_and_pads_after_normalising():
    pixels = np.ones((20, 40), dtype=np.float32)
    out = Preprocessing(40, resize="pad", mean=(0.5,) * 3, std=(0.5,) * 3)(pixels)
    assert out.shape == (3, 40, 40)
    np.testing.assert_allclose(out[:, :20, :], 1.0, atol=1e-5)  # (1 - 0.5) / 0.5
    np.testing.assert_allclose(out[:, 20:, :], 0.0)  # the margin reads as 0, as in SAM


def test_minmax_stretches_each_image():
    pixels = np.linspace(0.2, 0.4, 100, dtype=np.float32).reshape(10, 10)
    out = Preprocessing(10, minmax=True)(pixels)
    assert float(out.min()) == pytest.approx(0.0, abs=1e-6)
    assert float(out.max()) == pytest.approx(1.0, abs=1e-6)
    # A constant image does not divide by zero.
    assert torch.isfinite(Preprocessing(10, minmax=True)(np.ones((10, 10), np.float32))).all()


def test_describe_is_canonical_and_distinguishes_settings():
    a = Preprocessing(224, resize="crop", crop_fraction=0.875, mean=CLIP_MEAN, std=CLIP_STD)
    b = Preprocessing(224, resize="crop", crop_fraction=1.0, mean=CLIP_MEAN, std=CLIP_STD)
    assert a.describe() == Preprocessing(224, "crop", 0.875, CLIP_MEAN, CLIP_STD).describe()
    assert a.describe() != b.describe()
    assert "minmax" in Preprocessing(8, minmax=True).describe()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 0}, "size"),
        ({"size": 8, "resize": "stretch"}, "resize"),
        ({"size": 8, "crop_fraction": 0.0}, "crop_fraction"),
        ({"size": 8, "std": (1.0, 0.0, 1.0)}, "std"),
    ],
)
def test_bad_parameters_are_rejected(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        Preprocessing(**kwargs)


def test_bad_image_shape_is_rejected():
    with pytest.raises(InvalidInputError, match="shape"):
        Preprocessing(8)(np.zeros((4, 4, 2), np.float32))
