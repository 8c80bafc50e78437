"""Where a backbone's weights come from, and the hash that identifies them."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import torch

from fmood.errors import BackboneError, WeightsUnavailableError


def state_dict_sha256(module: torch.nn.Module) -> str:
    """SHA-256 of a module's parameters and persistent buffers.

    Hashes names, dtypes, shapes and values in name order, so the same weights give the
    same hash whether they came from the hub, a local directory or a package file, and
    two random initialisations never collide.
    """
    digest = hashlib.sha256()
    state = module.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        # Viewed as bytes so bfloat16 (which numpy lacks) hashes like every other dtype.
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def local_weights(weights: str | Path | None) -> Path | None:
    """``weights`` as an existing local path, None when it is a hub id or None.

    A value that looks like a path (absolute, ``./``, ``~``, or a file suffix) but does not
    exist raises :class:`WeightsUnavailableError` instead of being sent to the hub.
    """
    if weights is None:
        return None
    path = Path(weights).expanduser()
    if path.exists():
        return path
    text = str(weights)
    looks_like_path = text.startswith(("/", "./", "../", "~")) or path.suffix in {
        ".pth",
        ".pt",
        ".bin",
        ".safetensors",
        ".npy",
        ".json",
    }
    if looks_like_path:
        raise WeightsUnavailableError(f"{weights}: weights file or directory not found")
    return None


def hub_unavailable(backbone: str, hub_id: str, cause: BaseException) -> WeightsUnavailableError:
    """The error for a hub id that could not be fetched, saying how to pass a local copy."""
    return WeightsUnavailableError(
        f"{backbone}: could not load {hub_id!r} from the model hub "
        f"({type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else 'no detail'}). "
        f"Without network access, download it on a machine that has it "
        f"(e.g. `hf download {hub_id.removeprefix('hf-hub:')} --local-dir DIR`), copy DIR here "
        f"and pass it: fmood embed --backbone {backbone} --weights DIR "
        f"(Python: fmood.backbones.load({backbone!r}, weights=DIR))"
    )


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` or ``.pth``/``.pt``/``.bin`` checkpoint, never unpickling code.

    Accepts a bare state dict or one nested under ``"model"`` or ``"state_dict"``; a
    ``module.`` prefix on every key (saved from DataParallel) is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"{path}: weights file not found")
    checkpoint: Any
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            checkpoint = load_file(path)
        except (SafetensorError, OSError) as exc:
            raise BackboneError(f"{path}: not a readable safetensors file ({exc})") from exc
    else:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise BackboneError(
                f"{path}: refused to load: the checkpoint holds Python objects other than "
                "tensors and fmood only loads with torch.load(weights_only=True) "
                f"({str(exc).splitlines()[0]})"
            ) from exc
        except (RuntimeError, EOFError, OSError) as exc:
            raise BackboneError(f"{path}: not a readable torch checkpoint ({exc})") from exc
    for key in ("model", "state_dict"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict) or not all(
        isinstance(v, torch.Tensor) for v in checkpoint.values()
    ):
        raise BackboneError(
            f"{path}: expected a state dict of tensors, got {type(checkpoint).__name__}"
        )
    if checkpoint and all(k.startswith("module.") for k in checkpoint):
        checkpoint = {k[len("module.") :]: v for k, v in checkpoint.items()}
    return checkpoint


def load_strict(
    module: torch.nn.Module, state: dict[str, torch.Tensor], source: str | Path
) -> None:
    """Load ``state`` into ``module``, naming ``source`` and the first mismatches on failure."""
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even when strict=False
        detail = " ".join(line.strip() for line in str(exc).splitlines()[1:3])
        raise BackboneError(f"{source}: weights do not fit the architecture: {detail}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise BackboneError(
            f"{source}: weights do not fit the architecture: "
            f"{len(result.missing_keys)} missing (e.g. {result.missing_keys[:3]}), "
            f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:3]})"
        )
