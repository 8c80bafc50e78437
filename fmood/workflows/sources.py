"""Turn what a user points at (a feature store or a folder/CSV of images) into a store."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from fmood.errors import InvalidInputError, StoreMismatchError
from fmood.store import FeatureStore
from fmood.store.layout import MANIFEST

if TYPE_CHECKING:  # fmood.backbones imports torch ('fmood[models]'): only when a backbone loads
    from fmood.backbones import Backbone

#: Where stores embedded on the user's behalf are kept (the project's ``embeddings/``).
DEFAULT_STORE_ROOT = Path("embeddings")
#: Fingerprint options that :func:`fmood.backbones.load` takes back as keyword arguments.
_LOAD_OPTIONS = ("pooling", "layers")


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a feature-store directory (it has a manifest)."""
    return (Path(path) / MANIFEST).is_file()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "data"


def store_path_for(
    source: str | Path, backbone: Backbone, store_root: str | Path, label: str | None = None
) -> Path:
    """Where :func:`store_for` keeps the embeddings of images ``source`` by ``backbone``.

    ``store_root/<source name>-<label or backbone name>-<hash>``: a ``label`` such as
    ``"random:dinov2-base"`` names a random-weight control's store apart from the
    pretrained one, whose backbone name is the same.
    """
    source = Path(source)
    key = hashlib.sha256(
        f"{source.resolve()}|{backbone.fingerprint.to_dict()}".encode()
    ).hexdigest()[:10]
    name = backbone.name if label is None else label
    return Path(store_root) / f"{_slug(source.stem)}-{_slug(name)}-{key}"


def store_for(
    source: str | Path,
    backbone: Backbone | None,
    *,
    store_root: str | Path = DEFAULT_STORE_ROOT,
    batch_size: int = 32,
    progress: bool = True,
    read_options: dict | None = None,
    label: str | None = None,
) -> FeatureStore:
    """The feature store for ``source``, embedding what is not yet embedded.

    Parameters
    ----------
    source : path
        A feature store (used as is), or a folder / CSV manifest of images, embedded with
        ``backbone`` into ``store_root/<source name>-<backbone>-<hash>`` (a rerun resumes
        into the same store: only new files are embedded).
    backbone : Backbone or None
        Required for images; for a store, checked against the store's fingerprint when given.
    label : str, optional
        Names the store in place of the backbone's name (:func:`store_path_for`).

    Raises
    ------
    StoreMismatchError
        A store made by another backbone than ``backbone``.
    InvalidInputError
        Images but no backbone.
    """
    source = Path(source)
    if is_store(source):
        store = FeatureStore.open(source)
        if backbone is not None and store.fingerprint != backbone.fingerprint:
            raise StoreMismatchError(
                f"the store at {source} holds vectors from "
                f"{store.fingerprint.describe() if store.fingerprint else 'an unknown backbone'}, "
                f"not from {backbone.fingerprint.describe()}; pass that store's backbone or "
                "the images themselves"
            )
        return store
    if backbone is None:
        raise InvalidInputError(
            f"{source} is not a feature store: to embed its images, name a backbone "
            "(--backbone, e.g. litemedsam)"
        )
    from fmood.embed import embed_dataset  # torch-heavy: only when there is embedding to do

    path = store_path_for(source, backbone, store_root, label)
    summary = embed_dataset(
        backbone,
        source,
        path,
        batch_size=batch_size,
        progress=progress,
        read_options=read_options,
    )
    if progress:
        print(summary)
    if summary.n_stored == 0:
        raise InvalidInputError(
            f"no file of {source} could be embedded ({summary.n_failed_files} failed); "
            f"every failure is listed in {summary.failures_path}"
        )
    return FeatureStore.open(path)


def backbone_of_store(
    store: FeatureStore, weights: str | None = None, device: str = "auto"
) -> Backbone:
    """The backbone that made ``store``'s vectors, rebuilt and checked against its fingerprint.

    The weights are the backbone's defaults unless ``weights`` is given; pooling and layers
    come back from the fingerprint.
    """
    fp = store.fingerprint
    if fp is None or fp.name.startswith("precomputed"):
        raise InvalidInputError(
            f"the store at {store.path} was not made by an fmood backbone "
            f"({'no fingerprint' if fp is None else fp.name}); embed the image elsewhere and "
            "query with its vector (fmood neighbors --query)"
        )
    options = {}
    for part in fp.preprocessing.split(";"):
        key, _, value = part.partition("=")
        if key in _LOAD_OPTIONS:
            options[key] = value
    from fmood.backbones import load

    backbone = load(fp.name, weights=weights, device=device, **options)
    if backbone.fingerprint != fp:
        raise StoreMismatchError(
            f"the store at {store.path} was made by {fp.describe()}, but the backbone loaded "
            f"now is {backbone.fingerprint.describe()}; pass the weights the store was made "
            "with (--weights)"
        )
    return backbone
