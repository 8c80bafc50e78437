"""The parser's copies of option choices match the modules that own them."""

from __future__ import annotations

from fmood.calibration.detector import CALIBRATIONS, DEFAULT_SCORERS, OODDetector
from fmood.cli import choices
from fmood.distances import available_distances
from fmood.io.dicom import CT_WINDOWS, FREE_TEXT_MODES, IDENTIFIABLE_PIXELS_MODES


def test_choices_match_their_owners():
    assert tuple(CT_WINDOWS) == choices.CT_WINDOW_NAMES
    assert choices.FREE_TEXT_MODES == FREE_TEXT_MODES
    assert choices.IDENTIFIABLE_PIXELS_MODES == IDENTIFIABLE_PIXELS_MODES
    assert (
        tuple(s if isinstance(s, str) else s[0] for s in DEFAULT_SCORERS)
        == choices.DEFAULT_SCORER_NAMES
    )
    assert list(choices.DISTANCE_METHODS) == available_distances()
    assert choices.CALIBRATIONS == CALIBRATIONS
    assert choices.CALIBRATIONS[0] == OODDetector().calibration  # the parser's default
