"""An in-distribution task on the medical OOD dataset: the axial level of a brain slice.

OOD detectors that read a classifier's outputs (MSP, energy, MaxLogit, ViM) and failure
prediction need a task. Every slice of the synthetic T1 subjects (``reference``, ``id`` and
the ``artifact-*`` sets made from them) has its axial index ``source_frame`` in the MNI152
grid (1 mm, 189 slices), so its level is known: ``inferior`` (cerebellum, temporal lobes,
below z = 66), ``middle`` (basal ganglia, ventricles) or ``superior`` (above z = 100). The
edges are the tertiles of the default reference's slices. Subjects are randomly deformed, so
slices near an edge are ambiguous: the task is learnable but not trivial.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fmood.errors import InvalidInputError

#: Axial indices (MNI152 1 mm grid) where ``middle`` and ``superior`` begin.
LEVEL_EDGES = (66, 100)
LEVELS = ("inferior", "middle", "superior")
#: The sets whose slices come from the synthetic T1 subjects.
_LABELLED_PREFIXES = ("reference", "id", "artifact-")


def axial_level(manifest: pd.DataFrame) -> pd.Series:
    """The axial level of each row of a manifest; missing where the row is not a T1 slice.

    Parameters
    ----------
    manifest : DataFrame
        A manifest of :func:`~fmood_bench.datasets.medical.make_medical_ood_dataset`
        (columns ``shift`` and ``source_frame``).

    Returns
    -------
    Series of str (``inferior``, ``middle``, ``superior``) or missing, aligned with ``manifest``.
    """
    missing = {"shift", "source_frame"} - set(manifest.columns)
    if missing:
        raise InvalidInputError(f"the manifest lacks the column(s) {sorted(missing)}")
    shift = manifest["shift"].astype(str)
    labelled = shift.str.startswith(_LABELLED_PREFIXES) & manifest["source_frame"].notna()
    z = pd.to_numeric(manifest["source_frame"], errors="coerce").to_numpy(dtype=float)
    index = np.searchsorted(LEVEL_EDGES, np.nan_to_num(z), side="right")
    levels = pd.Series(np.asarray(LEVELS, dtype=object)[index], index=manifest.index)
    return levels.where(labelled.to_numpy(), None).rename("level")
