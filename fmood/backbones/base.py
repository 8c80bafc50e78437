"""The adapter every backbone is: preprocessing, a frozen encoder, and its fingerprint."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from fmood._validation import check_positive_int
from fmood.backbones.preprocessing import Preprocessing
from fmood.backbones.weights import state_dict_sha256
from fmood.errors import InvalidInputError
from fmood.io.image import Image
from fmood.utils.blocks import FINAL_BLOCK, check_blocks
from fmood.utils.fingerprint import Fingerprint


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; anything else must name a usable device."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(
            f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}"
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device {device!r} asked for, but torch sees no CUDA GPU here")
    return resolved


class Backbone:
    """A frozen image encoder that maps preprocessed images to one vector each.

    Subclasses implement :meth:`_features`; everything else (preprocessing, batching,
    inference mode, mixed precision on GPU, fingerprint) lives here.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"litemedsam"``; first field of the fingerprint.
    module : torch.nn.Module
        The encoder; put in eval mode with gradients off.
    preprocessing : Preprocessing
        What :meth:`preprocess` does to each image.
    dim : int
        Length of each output vector.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    options : str
        Canonical description of choices that change the vectors beyond preprocessing
        (pooling, layers); appended to the fingerprint's preprocessing field.
    blocks : tuple of (str, int), optional
        Name and width of each layer block of the vector, in concatenation order (see
        :func:`layer_blocks`); their widths sum to ``dim``. Default: one block, ``("final", dim)``.
    """

    def __init__(
        self,
        name: str,
        module: torch.nn.Module,
        preprocessing: Preprocessing,
        dim: int,
        *,
        device: str = "auto",
        options: str = "",
        blocks: tuple[tuple[str, int], ...] | None = None,
    ) -> None:
        self.name = name
        self.preprocessing = preprocessing
        self.dim = check_positive_int(dim, "dim")
        self.options = options
        self.blocks = (
            ((FINAL_BLOCK, self.dim),) if blocks is None else check_blocks(blocks, self.dim)
        )
        self.device = resolve_device(device)
        self.module = module.eval().requires_grad_(False).to(self.device)
        self.weights_sha256 = state_dict_sha256(module)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, device={str(self.device)!r})"

    @property
    def fingerprint(self) -> Fingerprint:
        """Name, weights hash and preprocessing: stored with every vector this backbone makes."""
        described = self.preprocessing.describe()
        if self.options:
            described = f"{described};{self.options}"
        return Fingerprint(self.name, self.weights_sha256, described)

    def preprocess(self, image: Image | np.ndarray) -> torch.Tensor:
        """One image (an :class:`Image` or its pixels) as a (3, size, size) float32 tensor."""
        pixels = image.pixels if isinstance(image, Image) else image
        return self.preprocessing(pixels)

    def embed_batch(self, batch: torch.Tensor) -> np.ndarray:
        """Vectors for a preprocessed batch.

        Parameters
        ----------
        batch : Tensor of shape (n, 3, size, size)

        Returns
        -------
        ndarray of shape (n, dim), float32
        """
        size = self.preprocessing.size
        if batch.ndim != 4 or tuple(batch.shape[1:]) != (3, size, size):
            raise InvalidInputError(
                f"{self.name}: batch must have shape (n, 3, {size}, {size}), got {tuple(batch.shape)}"
            )
        batch = batch.to(self.device, non_blocking=True)
        with torch.inference_mode(), self._autocast():
            features = self._features(batch)
        out = features.float().cpu().numpy()
        if out.shape != (len(batch), self.dim):
            raise RuntimeError(
                f"{self.name}: produced {out.shape}, expected {(len(batch), self.dim)}"
            )
        return out

    def embed(self, images: Sequence[Image | np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Vectors for in-memory images, ``batch_size`` at a time.

        For folders, manifests and stores use :func:`fmood.embed.embed_dataset`, which
        decodes in worker processes and streams into a feature store.

        Returns
        -------
        ndarray of shape (len(images), dim), float32
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        if len(images) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        chunks = []
        for i in range(0, len(images), batch_size):
            with _one_thread():
                batch = torch.stack([self.preprocess(im) for im in images[i : i + batch_size]])
            chunks.append(self.embed_batch(batch))
        return np.concatenate(chunks)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        """(n, 3, size, size) on ``self.device`` -> (n, dim)."""
        raise NotImplementedError


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run small per-image tensor work on one thread: thread start-up costs more than it saves
    (16x slower on 2 cores for a 256 px resize)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def pool(x: torch.Tensor) -> torch.Tensor:
    """Average a feature map (n, c, h, w) over space, or tokens (n, t, c) over tokens."""
    if x.ndim == 4:
        return x.mean(dim=(2, 3))
    if x.ndim == 3:
        return x.mean(dim=1)
    if x.ndim == 2:
        return x
    raise InvalidInputError(f"cannot pool features of shape {tuple(x.shape)}")


def concat_layers(features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Join pooled per-layer vectors, each scaled to unit L2 norm first.

    Without the scaling the widest or loudest layer would dominate every distance;
    with it, early layers (acquisition: contrast, noise) and late layers (content)
    count alike.
    """
    if len(features) == 1:
        return features[0]
    return torch.cat([torch.nn.functional.normalize(f.float(), dim=1) for f in features], dim=1)


def layer_blocks(
    prefix: str, layers: Sequence[int], dims: Sequence[int], final_dim: int
) -> tuple[tuple[str, int], ...]:
    """Blocks of a :func:`concat_layers` vector: ``("<prefix><layer>", width)`` per layer, then
    ``("final", final_dim)``; e.g. ``(("block2", 24), ("block4", 40), ("final", 1280))``."""
    return (
        *((f"{prefix}{layer}", int(d)) for layer, d in zip(layers, dims, strict=True)),
        (FINAL_BLOCK, int(final_dim)),
    )


def parse_layers(layers: Sequence[int] | str | None, depth: int, backbone: str) -> tuple[int, ...]:
    """Validate 1-based layer indices (negative count from the end) against ``depth``."""
    if layers is None:
        return ()
    if isinstance(layers, str):
        try:
            layers = [int(v) for v in layers.split(",") if v.strip()]
        except ValueError as exc:
            raise InvalidInputError(f"{backbone}: layers must be integers, got {layers!r}") from exc
    out = []
    for v in layers:
        index = v if v > 0 else depth + 1 + v
        if not 1 <= index <= depth:
            raise InvalidInputError(
                f"{backbone}: layer {v} out of range; this model has layers 1..{depth}"
            )
        out.append(index)
    if len(set(out)) != len(out):
        raise InvalidInputError(f"{backbone}: layers repeat: {list(layers)}")
    return tuple(out)
