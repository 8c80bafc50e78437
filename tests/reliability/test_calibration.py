"""Small references: the detector says it is small and claims no more surprise than it supports.

Issue 10 item 5: a reference of 48 slices from 2 subjects gave clean slices of a third subject
p-values around 1e-41..1e-65 (the fitted tail extrapolated from a few correlated scores) and
a "strongly shifted" verdict, without a word of warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fmood.calibration.detector import OODDetector, SmallReferenceWarning

D = 64


def subject(seed: int, n: int = 24) -> np.ndarray:
    """``n`` correlated slices of one subject: shared anatomy, a subject offset, a smooth trend."""
    anatomy = np.random.default_rng(7).standard_normal((3, D))
    rng = np.random.default_rng(100 + seed)
    t = np.linspace(-1, 1, n)[:, None]
    offset = rng.standard_normal(D) * 0.6
    X = (
        anatomy[0]
        + offset
        + t * anatomy[1]
        + t**2 * anatomy[2]
        + rng.standard_normal((n, D)) * 0.15
    )
    return X.astype(np.float32)


REFERENCE = np.r_[subject(0), subject(1)]
GROUPS = np.repeat(["s0", "s1"], 24)


@pytest.mark.parametrize("calibration", ["cross", "split"])
def test_two_subjects_warn_and_cap_the_surprise_for_a_new_clean_subject(calibration, tmp_path):
    with pytest.warns(SmallReferenceWarning, match=r"only \d+ images from \d groups"):
        detector = OODDetector(calibration=calibration).fit(REFERENCE, groups=GROUPS)
    n_cal = detector.calibration_size_
    assert detector.small_reference_ and detector.calibration_groups_ < 5
    assert detector.conformal_floor_ == pytest.approx(1 / (n_cal + 1))
    assert detector.min_pvalue_ == pytest.approx(1 / (n_cal + 1) ** 2)
    with pytest.warns(SmallReferenceWarning):
        table = detector.assess(np.r_[subject(2), subject(3)])
    p = table.filter(like="p_").to_numpy()
    assert (
        p.min() >= detector.min_pvalue_ * (1 - 1e-9) and detector.min_pvalue_ > 1e-6
    )  # before: ~1e-26
    assert table["surprise"].max() <= -np.log10(detector.min_pvalue_) + 1e-9
    detector.save(tmp_path / "d")
    loaded = OODDetector.load(tmp_path / "d")
    with pytest.warns(SmallReferenceWarning):
        loaded.assess(subject(2))
    assert (loaded.small_reference_, loaded.calibration_groups_, loaded.min_pvalue_) == (
        True,
        detector.calibration_groups_,
        detector.min_pvalue_,
    )


def test_a_far_shift_still_reaches_the_floor():
    with pytest.warns(SmallReferenceWarning):
        detector = OODDetector().fit(REFERENCE, groups=GROUPS)
    with pytest.warns(SmallReferenceWarning):
        far = detector.assess(subject(2) + 50.0)
    np.testing.assert_allclose(far["p_combined"], detector.min_pvalue_)


def test_a_large_reference_is_neither_warned_nor_capped():
    X = np.concatenate([subject(s) for s in range(12)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallReferenceWarning)
        detector = OODDetector().fit(X, groups=np.repeat(np.arange(12), 24))
        table = detector.assess(subject(20) + 50.0)
    assert not detector.small_reference_ and detector.min_pvalue_ == 0.0
    assert detector.calibration_size_ == 288 and detector.calibration_groups_ == 12
    assert table["surprise"].min() > -np.log10(detector.conformal_floor_)
