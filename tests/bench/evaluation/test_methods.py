import numpy as np
import pytest

from fmood.errors import InvalidInputError
from fmood.metrics import auroc
from fmood_bench.evaluation.methods import (
    BASELINES,
    DETECTOR,
    DETECTOR_BLOCKS,
    DETECTOR_VARIANTS,
    FMOOD_SCORERS,
    detector_params,
    held_out_pvalues,
    score_methods,
)


def _classes(rng, n, d=16, shift=0.0):
    y = rng.integers(0, 3, n)
    centres = np.eye(3, d) * 4.0
    return (centres[y] + rng.normal(size=(n, d)) + shift).astype(np.float32), y


def test_every_method_scores_every_image_and_separates_a_shift():
    rng = np.random.default_rng(0)
    X_ref, y_ref = _classes(rng, 300)
    X_id, _ = _classes(rng, 60)
    X_ood, _ = _classes(rng, 60, shift=3.0)
    groups = np.repeat(np.arange(30), 10)
    result = score_methods(X_ref, y_ref, np.vstack([X_id, X_ood]), groups=groups)
    expected = (
        {DETECTOR, *DETECTOR_VARIANTS}
        | {f"fmood:{n}" for n in FMOOD_SCORERS}
        | {f"pytorch-ood:{n}" for n in BASELINES}
    )
    assert set(result.scores) == expected == set(result.seconds)
    for name, values in result.scores.items():
        assert values.shape == (120,) and np.isfinite(values).all(), name
    # The default detector scores L2-normalised features (Mahalanobis++): this isotropic
    # translation moves the norm more than the direction, so it keeps part of the shift
    # (measured 0.84); the unnormalised scorers below see all of it.
    assert auroc(result.scores[DETECTOR][:60], result.scores[DETECTOR][60:]) > 0.8
    for name in ("fmood:mahalanobis", "pytorch-ood:mahalanobis", "pytorch-ood:vim"):
        assert auroc(result.scores[name][:60], result.scores[name][60:]) > 0.95, name
    assert np.allclose(result.assessment["surprise"], result.scores[DETECTOR])
    assert set(np.unique(result.predictions)) <= {0, 1, 2}


def test_held_out_pvalues_are_roughly_uniform_for_new_patients():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 8)).astype(np.float32)
    groups = np.repeat(np.arange(30), 20)
    pvalues = held_out_pvalues(X, groups, n_test_groups=10, repeats=4)
    assert len(pvalues) == 4 and all(len(p) == 200 for p in pvalues)
    pooled = np.concatenate(pvalues)
    assert 0.05 < np.mean(pooled <= 0.2) < 0.35 and 0.35 < np.median(pooled) < 0.65
    with pytest.raises(InvalidInputError, match="n_test_groups"):
        held_out_pvalues(X, groups, n_test_groups=29)


def test_blocks_add_the_per_block_detector():
    rng = np.random.default_rng(2)
    X_ref, y_ref = _classes(rng, 200)
    X_eval, _ = _classes(rng, 40, shift=2.0)
    blocks = (("early", 6), ("final", 10))
    result = score_methods(
        X_ref, y_ref, X_eval, blocks=blocks, fmood_scorers=(), baselines=("knn",)
    )
    assert DETECTOR_BLOCKS in result.scores and result.scores[DETECTOR_BLOCKS].shape == (40,)
    names = [s.label for s in detector_params(DETECTOR_BLOCKS, blocks)["scorers"]]
    assert names == ["mahalanobis@early", "mahalanobis@final"]
    with pytest.raises(InvalidInputError, match="several layer blocks"):
        detector_params(DETECTOR_BLOCKS, (("final", 16),))


def test_held_out_pvalues_take_detector_settings():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    groups = np.repeat(np.arange(15), 20)
    split = held_out_pvalues(X, groups, n_test_groups=5, repeats=1, calibration="split")
    cross = held_out_pvalues(X, groups, n_test_groups=5, repeats=1)
    assert split[0].shape == cross[0].shape == (100,)
    assert not np.allclose(split[0], cross[0])
