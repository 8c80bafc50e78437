"""What a comparison compares and how: the backbones, the checked settings, the sources."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmood.backbones import Backbone
from fmood.backbones.registry import check_name
from fmood.errors import InvalidInputError
from fmood.io.dataset import check_read_options
from fmood.report.inputs import DEFAULT_GROUPS_COLUMN
from fmood.store import FeatureStore
from fmood.workflows.comparison.output import LABEL_COLUMNS, RANKINGS
from fmood.workflows.sources import DEFAULT_STORE_ROOT, is_store

#: Prefix of a backbone name that asks for its random-weight control.
RANDOM_PREFIX = "random:"
#: Reference images embedded in memory to measure throughput when nothing was embedded.
THROUGHPUT_SAMPLE = 16

BackboneLike = str | Backbone


@dataclass(frozen=True)
class CompareConfig:
    """The settings of :func:`fmood.workflows.compare`, checked when built.

    Attributes
    ----------
    label_column : str or None
        Manifest column with each image's class, in both reference and target: adds the
        linear probe.
    groups_column : str or None
        Patient column (used where present on a side): folds, splits and resampling keep
        patients whole.
    store_root : path
        Where the embeddings are kept; a rerun embeds only what is missing.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"`` for the backbones loaded by name.
    seed : int
        Seeds everything random (random weights, folds, splits, resampling).
    alpha : float in (0, 1)
        False-discovery rate of the flags.
    rank_by : str
        A key of :data:`fmood.workflows.comparison.output.RANKINGS`.
    batch_size : int
    read_options : dict or None
        Reader options (``window``, ``axis``...) as for ``fmood embed``.
    throughput_sample : int
        Images embedded in memory for throughput when nothing had to be embedded (0: skip).
    progress : bool

    Raises
    ------
    InvalidInputError
        A seed that is not an integer, ``alpha`` outside (0, 1), an unknown ``rank_by`` or
        one that needs labels without ``label_column``, a negative ``throughput_sample``, or
        an unknown read option.
    """

    label_column: str | None = None
    groups_column: str | None = DEFAULT_GROUPS_COLUMN
    store_root: str | Path = DEFAULT_STORE_ROOT
    device: str = "auto"
    seed: int = 0
    alpha: float = 0.05
    rank_by: str = "separability"
    batch_size: int = 32
    read_options: dict[str, Any] | None = None
    throughput_sample: int = THROUGHPUT_SAMPLE
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool):
            raise InvalidInputError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.alpha, (int, float)) or not 0.0 < float(self.alpha) < 1.0:
            raise InvalidInputError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if self.rank_by not in RANKINGS:
            raise InvalidInputError(
                f"rank_by must be one of {', '.join(RANKINGS)}; got {self.rank_by!r}"
            )
        if self.rank_by in LABEL_COLUMNS and self.label_column is None:
            raise InvalidInputError(
                f"rank_by {self.rank_by!r} needs a label_column (the probe is trained on labels)"
            )
        sample = self.throughput_sample
        if not isinstance(sample, (int, np.integer)) or isinstance(sample, bool) or sample < 0:
            raise InvalidInputError(
                f"throughput_sample must be an integer >= 0 (0 skips), got {sample!r}"
            )
        # Frozen: the checked options replace the given mapping once, here.
        object.__setattr__(self, "read_options", check_read_options(self.read_options))

    @property
    def with_labels(self) -> bool:
        """Whether the probe runs (a label column was given)."""
        return self.label_column is not None

    def recorded(self) -> dict[str, Any]:
        """The settings written into ``summary.json`` (those that fix the numbers)."""
        return {
            "label_column": self.label_column,
            "groups_column": self.groups_column,
            "seed": self.seed,
            "alpha": self.alpha,
            "rank_by": self.rank_by,
            "store_root": str(self.store_root),
            "device": self.device,
            "throughput_sample": self.throughput_sample,
        }


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone of a comparison, before it is loaded.

    Attributes
    ----------
    label : str
        Its name in the table (``"dinov2-base"``, ``"random:dinov2-base"``).
    name : str or None
        Registry name to load; None for a given :class:`Backbone`.
    pretrained : bool or None
        False for a random-weight control; None for a given Backbone.
    backbone : Backbone or None
        A given, already loaded backbone.
    """

    label: str
    name: str | None
    pretrained: bool | None
    backbone: Backbone | None = None

    @property
    def weights(self) -> str:
        """ "pretrained", "random" or "given"."""
        if self.backbone is not None:
            return "given"
        return "pretrained" if self.pretrained else "random"


def parse_backbones(backbones: str | Sequence[BackboneLike]) -> list[BackboneSpec]:
    """Backbone specs from names (``"a,b"`` or a list), ``random:NAME`` or Backbone objects.

    Names are checked against :func:`fmood.backbones.available_backbones` here, before
    anything is embedded or written.

    Raises
    ------
    BackboneError
        An unknown name.
    InvalidInputError
        No backbone, a backbone listed twice, or something that is neither name nor Backbone.
    """
    if isinstance(backbones, str):
        backbones = [part.strip() for part in backbones.split(",") if part.strip()]
    elif isinstance(backbones, Backbone):
        backbones = [backbones]
    specs: list[BackboneSpec] = []
    for item in backbones:
        if isinstance(item, Backbone):
            base = f"{item.name}[{item.options}]" if item.options else item.name
            label, taken, n = base, {s.label for s in specs}, 2
            while label in taken:
                label, n = f"{base}#{n}", n + 1
            specs.append(BackboneSpec(label, None, None, item))
            continue
        if not isinstance(item, str) or not item.strip():
            raise InvalidInputError(f"a backbone must be a name or a Backbone, got {item!r}")
        label = item.strip()
        pretrained = not label.startswith(RANDOM_PREFIX)
        name = label if pretrained else label[len(RANDOM_PREFIX) :]
        check_name(name, label)
        if label in {s.label for s in specs}:
            raise InvalidInputError(f"backbone {label!r} is listed twice")
        specs.append(BackboneSpec(label, name, pretrained))
    if not specs:
        raise InvalidInputError("name at least one backbone to compare")
    return specs


def check_source(source: Path, role: str, label_column: str | None) -> None:
    """The source exists, and holds ``label_column`` when one is asked for."""
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such folder, CSV manifest or feature store")
    if label_column is None:
        return
    if is_store(source):
        columns = list(FeatureStore.open(source).metadata.columns)
    elif source.suffix.lower() == ".csv":
        columns = list(pd.read_csv(source, nrows=0).columns)
    else:
        columns = []
    if label_column not in columns:
        raise InvalidInputError(
            f"{label_column!r} is not a column of the {role} ({source}); "
            f"it has {columns or 'no metadata columns (a folder: use a CSV manifest)'}"
        )
