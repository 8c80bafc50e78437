"""One backbone's part of a comparison that needs the model: load it, embed both sides, time it.

Everything after this works on the stores alone, so the model is freed (GPU memory above
all) before the next backbone loads.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmood.backbones import Backbone, load
from fmood.errors import InvalidInputError
from fmood.report.inputs import check_same_backbone
from fmood.store import FeatureStore
from fmood.workflows.comparison.config import BackboneSpec, CompareConfig
from fmood.workflows.sources import is_store, store_for, store_path_for


@dataclass(frozen=True)
class Throughput:
    """How fast a backbone embedded, and on what that was measured.

    Attributes
    ----------
    images_per_second : float or None
        None when not measured (``throughput_sample=0``, or no image could be read).
    measured_on : str
        The images timed, in words.
    embedded_reference, embedded_target : int
        Images embedded in this run per side (0 when all were stored already).
    seconds_reference, seconds_target : float
        Wall-clock seconds of embedding each side in this run.
    """

    images_per_second: float | None
    measured_on: str
    embedded_reference: int
    embedded_target: int
    seconds_reference: float
    seconds_target: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "images_per_second": self.images_per_second,
            "measured_on": self.measured_on,
            "embedded_in_this_run": {
                "reference": self.embedded_reference,
                "target": self.embedded_target,
            },
            "embedding_seconds": {
                "reference": round(self.seconds_reference, 3),
                "target": round(self.seconds_target, 3),
            },
        }


@dataclass(frozen=True)
class EmbeddedPair:
    """The reference and target embedded by one backbone, and what is kept of the backbone.

    Attributes
    ----------
    reference, target : FeatureStore
        At least 2 vectors each, from the same backbone.
    fingerprint : dict
        :meth:`BackboneFingerprint.to_dict` of the backbone.
    dim : int
    throughput : Throughput
    """

    reference: FeatureStore
    target: FeatureStore
    fingerprint: dict[str, Any]
    dim: int
    throughput: Throughput


def embed_pair(
    spec: BackboneSpec, reference: Path, target: Path, config: CompareConfig
) -> EmbeddedPair:
    """Embed both sides with ``spec``'s backbone (reusing stores) and time it.

    Raises
    ------
    InvalidInputError
        A side with fewer than 2 embedded images.
    StoreMismatchError
        A given store made by another backbone than the other side.
    """
    backbone = load_backbone(spec, config.device, config.seed)
    try:
        ref_store, ref_new, ref_seconds = _embed(reference, backbone, spec.label, config)
        tgt_store, tgt_new, tgt_seconds = _embed(target, backbone, spec.label, config)
        check_same_backbone(ref_store, tgt_store)
        for store, role in ((ref_store, "reference"), (tgt_store, "target")):
            if len(store) < 2:
                raise InvalidInputError(
                    f"the {role} holds {len(store)} embedded image(s) for {spec.label}; "
                    "a comparison needs at least 2 a side"
                )
        images_per_second, measured_on = _throughput(
            backbone, ref_store, ref_new + tgt_new, ref_seconds + tgt_seconds, config
        )
        throughput = Throughput(
            images_per_second, measured_on, ref_new, tgt_new, ref_seconds, tgt_seconds
        )
        return EmbeddedPair(
            ref_store, tgt_store, backbone.fingerprint.to_dict(), backbone.dim, throughput
        )
    finally:
        if spec.backbone is None:  # loaded here: free it before the next one loads
            del backbone
            _free_memory()


def load_backbone(spec: BackboneSpec, device: str, seed: int) -> Backbone:
    """The given backbone, or the named one loaded (random weights drawn with ``seed``)."""
    if spec.backbone is not None:
        return spec.backbone
    assert spec.name is not None  # parse_backbones: a spec without a Backbone has a name
    if spec.pretrained:
        return load(spec.name, device=device)
    import torch

    # Random weights come from torch's global generator: seed it (without disturbing the
    # caller's stream), so the control, its fingerprint and its store are the same each run.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return load(spec.name, device=device, pretrained=False)


def sample_throughput(backbone: Any, images: list[Any], batch_size: int) -> float | None:
    """Images per second of ``backbone.embed`` on in-memory ``images`` (after a warm-up)."""
    if not images:
        return None
    backbone.embed(images[:1], batch_size=1)  # first call pays for lazy set-up, not images
    started = time.perf_counter()
    backbone.embed(images, batch_size=batch_size)
    seconds = time.perf_counter() - started
    return len(images) / seconds if seconds > 0 else None


def _throughput(
    backbone: Backbone, reference: FeatureStore, n_new: int, seconds: float, config: CompareConfig
) -> tuple[float | None, str]:
    """Images per second and what they were measured on: this run's embedding, or a sample."""
    if n_new:
        return (
            n_new / max(seconds, 1e-9),
            f"{n_new} images embedded in this run (reading files included)",
        )
    if config.throughput_sample == 0:
        return None, "not measured (throughput_sample=0)"
    images = _sample_images(reference, config.throughput_sample, config.read_options or {})
    throughput = sample_throughput(backbone, images, config.batch_size)
    if throughput is None:
        return None, "nothing (no image could be read to time)"
    return throughput, f"{len(images)} stored reference images re-embedded in memory (model only)"


def _free_memory() -> None:
    """Return a dropped backbone's memory (GPU memory above all) before the next loads."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _embed(
    source: Path, backbone: Backbone, label: str, config: CompareConfig
) -> tuple[FeatureStore, int, float]:
    """``store_for(source, backbone)``, with the images it embedded and the seconds it took."""
    if is_store(source):
        return store_for(source, backbone), 0, 0.0
    expected = store_path_for(source, backbone, config.store_root, label)
    before = len(FeatureStore.open(expected)) if is_store(expected) else 0
    started = time.perf_counter()
    store = store_for(
        source,
        backbone,
        store_root=config.store_root,
        batch_size=config.batch_size,
        progress=config.progress,
        read_options=config.read_options or None,
        label=label,
    )
    seconds = time.perf_counter() - started
    if Path(store.path).resolve() != expected.resolve():  # naming changed: count it all
        before = 0
    return store, max(len(store) - before, 0), seconds


def _sample_images(store: FeatureStore, n: int, read_options: dict) -> list[np.ndarray]:
    """Up to ``n`` stored images, evenly spaced, re-read from their files (unreadable skipped)."""
    from fmood.io.dataset import READ_ERRORS, Record, read_record

    meta = store.metadata
    if "path" not in meta.columns or meta.empty:
        return []
    rows = np.unique(np.linspace(0, len(meta) - 1, min(n, len(meta))).astype(int))
    images = []
    for row in rows:
        path = meta["path"].iloc[row]
        frame = meta["frame"].iloc[row] if "frame" in meta.columns else None
        try:
            read = read_record(Record(str(path)), **read_options)
        except READ_ERRORS:
            continue
        frames = {im.frame: im for im in read}
        key = None if frame is None or pd.isna(frame) else int(frame)
        image = frames.get(key, read[0] if read else None)
        if image is not None:
            images.append(image.pixels)
    return images
