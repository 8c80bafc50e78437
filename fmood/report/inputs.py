"""What a report is built from: two stores of one backbone, a detector, the per-image groups."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fmood.calibration.detector import OODDetector
from fmood.errors import InvalidInputError, StoreMismatchError
from fmood.store import FeatureStore

#: Column used for patient-aware splits and resampling when present and not overridden.
DEFAULT_GROUPS_COLUMN = "patient"

StoreLike = FeatureStore | str | os.PathLike[str]
DetectorLike = OODDetector | str | os.PathLike[str] | None


def open_store(store: StoreLike, role: str) -> FeatureStore:
    """``store`` itself, or the store at that path opened read-only; it must hold vectors."""
    opened = store if isinstance(store, FeatureStore) else FeatureStore.open(store)
    if len(opened) < 2:
        raise InvalidInputError(
            f"the {role} store at {opened.path} holds {len(opened)} vector(s); a report needs "
            "at least 2 (embed more images into it)"
        )
    return opened


def check_same_backbone(reference: FeatureStore, target: FeatureStore) -> None:
    """Raise :class:`StoreMismatchError` naming both backbones unless the stores share one."""
    if reference.fingerprint == target.fingerprint and reference.dim == target.dim:
        return
    raise StoreMismatchError(
        f"the reference store at {reference.path} holds {reference.dim}-d vectors from "
        f"{describe(reference)}, but the target store at {target.path} holds {target.dim}-d "
        f"vectors from {describe(target)}; embed both with the same backbone, weights and "
        "preprocessing"
    )


def describe(store: FeatureStore) -> str:
    """The store's backbone in words."""
    fp = store.fingerprint
    return fp.describe() if fp is not None else "an unknown backbone (no fingerprint)"


def groups_of(metadata: pd.DataFrame, column: str | None) -> np.ndarray | None:
    """Group label of each row from ``column``, or None when absent or a single group.

    Rows with a missing label are each their own group, so they never pair up by accident.
    """
    if column is None or column not in metadata.columns:
        return None
    values = metadata[column]
    labels = values.astype(str).to_numpy(dtype=object)
    missing = values.isna().to_numpy()
    labels[missing] = [f"\x00row{i}" for i in np.flatnonzero(missing)]
    labels = labels.astype(str)
    return labels if np.unique(labels).size >= 2 else None


def resolve_groups_column(reference: FeatureStore, column: str | None) -> str | None:
    """``column`` when the reference has it; the default is dropped quietly when absent."""
    if column is None:
        return None
    if column in reference.metadata.columns:
        return column
    if column == DEFAULT_GROUPS_COLUMN:
        return None
    raise InvalidInputError(
        f"groups_column {column!r} is not a metadata column of the reference store at "
        f"{reference.path}; it has {_columns(reference)}"
    )


def resolve_detector(
    detector: DetectorLike,
    reference: FeatureStore,
    X_reference: np.ndarray,
    *,
    groups: np.ndarray | None,
    domains_column: str | None,
    seed: int,
) -> tuple[OODDetector, str]:
    """A fitted detector and where it came from ("fitted on the reference" or its path)."""
    if detector is None:
        domains = None
        if domains_column is not None:
            meta = reference.metadata
            if domains_column not in meta.columns:
                raise InvalidInputError(
                    f"domains_column {domains_column!r} is not a metadata column of the "
                    f"reference store at {reference.path}; it has {_columns(reference)}"
                )
            domains = meta[domains_column].astype(str).to_numpy()
        fitted = OODDetector(random_state=seed).fit(X_reference, groups=groups, domains=domains)
        return fitted, "fitted on the reference for this report"
    if domains_column is not None:
        raise InvalidInputError(
            "domains_column applies only when the report fits the detector (detector=None); "
            "a given detector keeps the domains it was fitted with"
        )
    if isinstance(detector, OODDetector):
        source = "given fitted detector"
    else:
        source = f"loaded from {Path(detector)}"
        detector = OODDetector.load(detector)
    n_features = getattr(detector, "n_features_in_", None)
    if n_features is None:
        raise InvalidInputError("the detector is not fitted; fit it first or pass detector=None")
    if n_features != reference.dim:
        raise StoreMismatchError(
            f"the detector was fitted on {n_features}-d vectors, but the reference store at "
            f"{reference.path} holds {reference.dim}-d vectors from {describe(reference)}; "
            "use a detector fitted on this backbone's embeddings or pass detector=None"
        )
    return detector, source


def _columns(store: FeatureStore) -> str:
    return ", ".join(map(str, store.metadata.columns))
