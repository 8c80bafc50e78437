import pytest
import torch

from fmood.backbones.weights import (
    hub_unavailable,
    load_state_dict,
    load_strict,
    local_weights,
    state_dict_sha256,
)
from fmood.errors import BackboneError, WeightsUnavailableError


def net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))


def test_sha256_depends_on_values_and_buffers_only():
    a, b = net(0), net(0)
    assert state_dict_sha256(a) == state_dict_sha256(b)
    assert state_dict_sha256(a) != state_dict_sha256(net(1))
    b[1].running_mean += 1  # a buffer: changes the features in eval mode
    assert state_dict_sha256(a) != state_dict_sha256(b)
    assert state_dict_sha256(a.to(torch.bfloat16)) != state_dict_sha256(net(0))


def test_local_weights(tmp_path):
    f = tmp_path / "w.pth"
    f.write_bytes(b"")
    assert local_weights(None) is None
    assert local_weights(str(f)) == f
    assert local_weights("facebook/dinov2-small") is None  # a hub id
    for missing in (str(tmp_path / "nope"), "./nope", "model.safetensors"):
        with pytest.raises(WeightsUnavailableError, match="not found"):
            local_weights(missing)


def test_hub_unavailable_says_how_to_pass_a_local_copy():
    err = hub_unavailable("biomedclip", "hf-hub:org/model", OSError("no network\nmore"))
    assert isinstance(err, WeightsUnavailableError)
    assert "--weights DIR" in str(err) and "hf download org/model" in str(err)
    assert "more" not in str(err)


def test_load_state_dict_plain_and_nested(tmp_path):
    state = net(0).state_dict()
    for i, saved in enumerate((state, {"model": state}, {"state_dict": state})):
        path = tmp_path / f"{i}.pth"
        torch.save(saved, path)
        loaded = load_state_dict(path)
        assert loaded.keys() == state.keys()
        torch.testing.assert_close(loaded["0.weight"], state["0.weight"])


class Payload:
    """Stands for arbitrary code a pickle could run on load."""


def test_load_state_dict_refuses_python_objects(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(1), "obj": Payload()}, path)
    with pytest.raises(BackboneError, match="weights_only=True"):
        load_state_dict(path)


def test_load_state_dict_bad_files(tmp_path):
    with pytest.raises(WeightsUnavailableError):
        load_state_dict(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneError, match="junk.pth"):
        load_state_dict(junk)
    listed = tmp_path / "list.pth"
    torch.save([torch.ones(1)], listed)
    with pytest.raises(BackboneError, match="state dict"):
        load_state_dict(listed)


def test_load_strict_names_mismatches():
    state = net(0).state_dict()
    state["extra.weight"] = torch.ones(1)
    del state["0.bias"]
    with pytest.raises(BackboneError, match=r"src.pth.*1 missing.*0\.bias.*1 unexpected"):
        load_strict(net(1), state, "src.pth")
