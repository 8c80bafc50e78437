"""Any ``torch.nn.Module`` as a backbone: its output, pooled to one vector per image."""

from __future__ import annotations

import torch

from fmood.backbones.base import Backbone, pool
from fmood.backbones.preprocessing import Preprocessing
from fmood.errors import BackboneError


class ModuleBackbone(Backbone):
    """Wrap an encoder whose forward maps (n, 3, size, size) to features.

    Outputs of shape (n, c, h, w) are averaged over space and (n, tokens, c) over
    tokens; (n, c) is taken as is. The output dimension is found with one forward pass.

    Parameters
    ----------
    module : torch.nn.Module
        The encoder (e.g. a classifier with its head removed).
    preprocessing : Preprocessing
        How images become its input.
    name : str
        Fingerprint name; give each model its own, since vectors from two names never mix.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.

    Examples
    --------
    >>> import torchvision  # doctest: +SKIP
    >>> net = torchvision.models.resnet18(weights=None); net.fc = torch.nn.Identity()
    >>> bb = ModuleBackbone(net, Preprocessing(224, mean=(0.485, 0.456, 0.406),
    ...                                        std=(0.229, 0.224, 0.225)),
    ...                     name="resnet18-mine")
    """

    def __init__(
        self,
        module: torch.nn.Module,
        preprocessing: Preprocessing,
        name: str,
        *,
        device: str = "auto",
    ) -> None:
        if not isinstance(module, torch.nn.Module):
            raise BackboneError(f"{name}: expected a torch.nn.Module, got {type(module).__name__}")
        dim = self._probe_dim(module, preprocessing, name)
        super().__init__(name, module, preprocessing, dim, device=device)

    @staticmethod
    def _probe_dim(module: torch.nn.Module, preprocessing: Preprocessing, name: str) -> int:
        size = preprocessing.size
        probe = torch.zeros(1, 3, size, size)
        was_training = module.training
        module.eval()
        try:
            device = next(module.parameters()).device
        except StopIteration:
            device = torch.device("cpu")
        try:
            with torch.inference_mode():
                out = module(probe.to(device))
        except Exception as exc:  # the user's module: report what it said
            raise BackboneError(
                f"{name}: a forward pass on a (1, 3, {size}, {size}) input failed: {exc}"
            ) from exc
        finally:
            module.train(was_training)
        if not isinstance(out, torch.Tensor) or out.ndim not in (2, 3, 4):
            raise BackboneError(
                f"{name}: the module must return a tensor of shape (n, c), (n, tokens, c) or "
                f"(n, c, h, w), got {type(out).__name__} {tuple(getattr(out, 'shape', ()))}"
            )
        return int(pool(out).shape[1])

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        return pool(self.module(batch))
