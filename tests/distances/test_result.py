import dataclasses
import json
import math

import numpy as np
import pytest

from fmood.distances import DistanceResult


def _result(**overrides):
    fields = dict(
        method="mmd",
        value=0.0123,
        ci_low=0.0101,
        ci_high=0.0152,
        null_level=0.0011,
        ratio=11.18,
        p_value=0.005,
        n_a=100,
        n_b=80,
        params={"bandwidth": np.float64(1.5)},
        extra={"null_values": [np.float32(0.5)]},
    )
    fields.update(overrides)
    return DistanceResult(**fields)


def test_to_dict_has_plain_python_types_and_is_json():
    d = _result().to_dict()
    assert type(d["params"]["bandwidth"]) is float
    assert type(d["extra"]["null_values"][0]) is float
    assert json.loads(json.dumps(d))["value"] == 0.0123


def test_str_reads_like_a_summary():
    assert str(_result()) == "mmd = 0.0123 [0.0101, 0.0152] (null 0.0011, 11.2x), p = 0.005"
    bare = _result(ci_low=None, ci_high=None, null_level=None, ratio=None, p_value=None)
    assert str(bare) == "mmd = 0.0123"
    assert "infx" in str(_result(null_level=0.0, ratio=math.inf))


def test_to_dict_is_strict_json_for_non_finite_ratios():
    d = _result(null_level=0.0, ratio=math.inf).to_dict()
    assert d["ratio"] is None
    json.dumps(d, allow_nan=False)


def test_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _result().value = 1.0
