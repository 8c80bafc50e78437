"""Risk-coverage curve, AURC and AUGRC: hand-computed values, an fd-shifts-style loop, bounds."""

from __future__ import annotations

import numpy as np
import pytest

from fmood.errors import InvalidInputError
from fmood.metrics import augrc, aurc, risk_coverage_curve

# uncertainty 0.2 is tied between a wrong and a right sample
TINY_UNCERTAINTY = np.array([0.9, 0.2, 0.1, 0.2])
TINY_ERRORS = np.array([1, 1, 0, 0])


def _fd_shifts_style_curve(uncertainty, errors, generalized):
    """Sample-by-sample loop after fd-shifts' rc_stats_utils (confidence = -uncertainty).

    Drops the least confident sample one at a time and records a point only where the next
    sample has a different confidence, then closes the curve at coverage 0.
    """
    confidence = -np.asarray(uncertainty, dtype=float)
    order = np.argsort(confidence)
    residuals = np.asarray(errors, dtype=float)[order]
    confidence = confidence[order]
    n = len(residuals)
    kept, error_sum = n, residuals.sum()
    coverages, risks = [1.0], [error_sum / (n if generalized else kept)]
    for i in range(n - 1):
        kept -= 1
        error_sum -= residuals[i]
        if confidence[i] != confidence[i + 1]:
            coverages.append(kept / n)
            risks.append(error_sum / (n if generalized else kept))
    coverages.append(0.0)
    risks.append(0.0 if generalized else risks[-1])
    return np.array(coverages[::-1]), np.array(risks[::-1])


def _area(x, y):
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2)


def test_tiny_example_by_hand():
    # thresholds 0.1, 0.2, 0.9 accept 1, 3, 4 samples with 0, 1, 2 errors
    coverage, risk = risk_coverage_curve(TINY_UNCERTAINTY, TINY_ERRORS)
    np.testing.assert_allclose(coverage, [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0.0, 0.0, 1 / 3, 0.5])
    # 0.5 * (0 + 1/3) / 2 + 0.25 * (1/3 + 1/2) / 2 = 1/12 + 5/48
    assert aurc(TINY_UNCERTAINTY, TINY_ERRORS) == pytest.approx(3 / 16, abs=1e-15)
    _, generalized = risk_coverage_curve(TINY_UNCERTAINTY, TINY_ERRORS, risk="generalized")
    np.testing.assert_allclose(generalized, [0.0, 0.0, 0.25, 0.5])
    # 0.5 * 0.25 / 2 + 0.25 * (0.25 + 0.5) / 2 = 1/16 + 3/32
    assert augrc(TINY_UNCERTAINTY, TINY_ERRORS) == pytest.approx(5 / 32, abs=1e-15)


def test_tied_samples_enter_together():
    swapped = TINY_ERRORS[[0, 3, 2, 1]]  # swap the two samples tied at 0.2
    uncertainty = TINY_UNCERTAINTY[[0, 3, 2, 1]]
    assert aurc(uncertainty, swapped) == aurc(TINY_UNCERTAINTY, TINY_ERRORS)
    # breaking the tie either way gives a different value, so the tie handling is what matters
    broken = TINY_UNCERTAINTY + np.array([0.0, 0.01, 0.0, 0.0])
    assert aurc(broken, TINY_ERRORS) != pytest.approx(3 / 16)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_fd_shifts_style_loop_with_ties(seed):
    rng = np.random.default_rng(seed)
    uncertainty = rng.integers(0, 30, size=400).astype(float)  # many ties
    errors = rng.random(400) < 0.25
    for risk, generalized in (("selective", False), ("generalized", True)):
        coverage, values = risk_coverage_curve(uncertainty, errors, risk=risk)
        ref_coverage, ref_values = _fd_shifts_style_curve(uncertainty, errors, generalized)
        np.testing.assert_allclose(coverage, ref_coverage, atol=1e-12)
        np.testing.assert_allclose(values, ref_values, atol=1e-12)
    ref_aurc = _area(*_fd_shifts_style_curve(uncertainty, errors, generalized=False))
    ref_augrc = _area(*_fd_shifts_style_curve(uncertainty, errors, generalized=True))
    assert aurc(uncertainty, errors) == pytest.approx(ref_aurc, abs=1e-12)
    assert augrc(uncertainty, errors) == pytest.approx(ref_augrc, abs=1e-12)


def test_oracle_ranking_reaches_known_minimum():
    n, error_rate = 10_000, 0.2
    errors = np.zeros(n, dtype=bool)
    errors[: int(n * error_rate)] = True
    rng = np.random.default_rng(0)
    rng.shuffle(errors)
    # every wrong sample is less certain than every right one
    oracle = errors + rng.random(n) * 0.5
    # Geifman et al. (ICLR 2019): AURC* = r + (1 - r) ln(1 - r); Traub et al.: AUGRC* = r^2 / 2
    assert aurc(oracle, errors) == pytest.approx(
        error_rate + (1 - error_rate) * np.log(1 - error_rate), abs=1e-6
    )
    assert augrc(oracle, errors) == pytest.approx(error_rate**2 / 2, abs=1e-12)
    for _ in range(5):
        other = rng.random(n)
        assert aurc(other, errors) > aurc(oracle, errors)
        assert augrc(other, errors) > augrc(oracle, errors)


def test_random_ranking_gives_error_rate_and_half_of_it():
    rng = np.random.default_rng(1)
    errors = rng.random(200_000) < 0.3
    uncertainty = rng.random(errors.size)
    error_rate = errors.mean()
    assert aurc(uncertainty, errors) == pytest.approx(error_rate, abs=0.01)
    assert augrc(uncertainty, errors) == pytest.approx(error_rate / 2, abs=0.005)


def test_all_right_and_all_wrong():
    u = np.array([0.3, 0.1, 0.2])
    assert aurc(u, [0, 0, 0]) == 0.0
    assert augrc(u, [0, 0, 0]) == 0.0
    assert aurc(u, [True, True, True]) == 1.0
    assert augrc(u, [True, True, True]) == 0.5


def test_constant_uncertainty_is_one_point():
    coverage, risk = risk_coverage_curve([0.5] * 4, [1, 0, 0, 0])
    np.testing.assert_allclose(coverage, [0.0, 1.0])
    np.testing.assert_allclose(risk, [0.25, 0.25])


@pytest.mark.parametrize("metric", [aurc, augrc, risk_coverage_curve])
@pytest.mark.parametrize(
    ("uncertainty", "errors", "message"),
    [
        ([], [], "at least 1"),
        ([0.1, 0.2], [0], "one entry per sample"),
        ([0.1, np.nan], [0, 1], "NaN or infinite"),
        ([0.1, 0.2], [0, 2], "only 0/1"),
        ([0.1, 0.2], [0, np.nan], "NaN or infinite"),
    ],
)
def test_bad_inputs_raise(metric, uncertainty, errors, message):
    with pytest.raises(InvalidInputError, match=message):
        metric(uncertainty, errors)


def test_unknown_risk_raises():
    with pytest.raises(InvalidInputError, match="generalized"):
        risk_coverage_curve([0.1], [0], risk="balanced")
