"""Option choices the parser shows, kept here so that building it imports nothing heavy.

The readers and the detector that own these values import numpy, pydicom or scipy; the
parser only needs their names. ``tests/cli/test_choices.py`` checks they stay the same.
"""

from __future__ import annotations

#: Names of :data:`fmood.io.dicom.CT_WINDOWS`, the DICOM CT window presets.
CT_WINDOW_NAMES = ("brain", "lung", "bone", "soft-tissue", "abdomen")
#: :data:`fmood.io.dicom.FREE_TEXT_MODES`.
FREE_TEXT_MODES = ("hash", "drop", "keep")
#: :data:`fmood.io.dicom.IDENTIFIABLE_PIXELS_MODES`.
IDENTIFIABLE_PIXELS_MODES = ("skip", "embed")
#: :data:`fmood.calibration.detector.CALIBRATIONS`, the default first.
CALIBRATIONS = ("cross", "cv+", "split")
#: Scorer names of :data:`fmood.calibration.detector.DEFAULT_SCORERS`.
DEFAULT_SCORER_NAMES = ("mahalanobis", "residual")
#: :func:`fmood.distances.available_distances`, the ``fmood distance`` methods.
DISTANCE_METHODS = ("classifier", "frechet", "mmd", "sinkhorn", "sliced_wasserstein")
