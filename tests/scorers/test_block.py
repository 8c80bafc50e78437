"""BlockScorer: a registered scorer on one column block, its state, and block_scorers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fmood.errors import InvalidInputError, StoreCorruptError
from fmood.scorers import get_scorer
from fmood.scorers.block import BlockScorer, block_scorers

BLOCKS = (("block2", 6), ("final", 18))


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 24)).astype(np.float32)
    y = rng.integers(0, 3, size=150)
    Q = (rng.normal(size=(20, 24)) + np.r_[np.full(6, 1.5), np.zeros(18)]).astype(np.float32)
    return X, y, Q


@pytest.mark.parametrize(
    "scorer, params", [("mahalanobis", None), ("residual", {"n_components": 3}), ("knn", {"k": 3})]
)
def test_scores_are_the_wrapped_scorer_on_the_block(data, scorer, params):
    X, _, Q = data
    block = BlockScorer(scorer, 6, 24, "final", params).fit(X)
    alone = get_scorer(scorer, **(params or {})).fit(X[:, 6:])
    np.testing.assert_allclose(block.score(Q), alone.score(Q[:, 6:]), rtol=1e-6)
    assert block.n_features_in_ == 24 and block.scorer_.n_features_in_ == 18
    assert block.label == f"{scorer}@final"


def test_stop_none_runs_to_the_end_and_labels_reach_a_scorer_that_uses_them(data):
    X, y, Q = data
    block = BlockScorer("mahalanobis", start=10).fit(X, y)
    alone = get_scorer("mahalanobis").fit(X[:, 10:], y)
    np.testing.assert_allclose(block.score(Q), alone.score(Q[:, 10:]), rtol=1e-6)
    assert block.uses_labels and not BlockScorer("residual").uses_labels
    assert block.label == "mahalanobis@10:"


def test_state_round_trips_through_json_params_and_arrays(data):
    X, _, Q = data
    fitted = BlockScorer("residual", 0, 6, "block2", {"n_components": 2}).fit(X)
    params = json.loads(json.dumps(fitted.get_params()))
    state = {k: np.asarray(v) for k, v in fitted.get_state().items()}
    assert "n_features_in_" in state and all(
        k == "n_features_in_" or k.startswith("inner.") for k in state
    )
    restored = get_scorer("block", **params).set_state(state)
    np.testing.assert_array_equal(restored.score(Q), fitted.score(Q))


def test_state_that_does_not_fit_the_parameters_is_refused(data):
    X, _, _ = data
    state = BlockScorer("mahalanobis", 0, 6).fit(X).get_state()
    with pytest.raises(InvalidInputError, match="6 features, but the block .0, 8. is 8 wide"):
        BlockScorer("mahalanobis", 0, 8).set_state(state)
    with pytest.raises(InvalidInputError, match="block scorer residual@0:6: .*residual"):
        BlockScorer("residual", 0, 6).set_state(state)
    with pytest.raises(InvalidInputError, match="inside the 24 features"):
        BlockScorer("mahalanobis", 20, 26).set_state(state)
    with pytest.raises(InvalidInputError, match="missing array.*n_features_in_"):
        BlockScorer("mahalanobis", 0, 6).set_state(
            {k: v for k, v in state.items() if k != "n_features_in_"}
        )


@pytest.mark.parametrize(
    "params, complaint",
    [
        ({"scorer": "block"}, "cannot wrap another block scorer"),
        ({"scorer": "nope"}, "unknown scorer 'nope'"),
        ({"start": 6, "stop": 6}, r"\[6, 6\) must be a non-empty range"),
        ({"stop": 30}, "inside the 24 features"),
        ({"start": -1}, "non-empty range"),
        ({"params": {"nope": 1}}, "has no parameter 'nope'"),
        ({"params": {"normalize": "yes"}}, "'normalize' of MahalanobisScorer must be bool"),
        ({"params": "shrinkage=oas"}, "'params' of BlockScorer must be dict or None"),
        ({"start": 1.5}, "'start' of BlockScorer must be int"),
    ],
)
def test_bad_parameters_fail_at_fit(data, params, complaint):
    with pytest.raises(InvalidInputError, match=complaint):
        BlockScorer(**params).fit(data[0])


def test_block_scorers_cover_each_block_with_each_scorer():
    specs = block_scorers(BLOCKS, ["mahalanobis", ("residual", {"n_components": 2})])
    assert [(s.label, s.start, s.stop) for s in specs] == [
        ("mahalanobis@block2", 0, 6),
        ("residual@block2", 0, 6),
        ("mahalanobis@final", 6, 24),
        ("residual@final", 6, 24),
    ]
    assert specs[1].params == {"n_components": 2} and specs[0].params is None
    assert [s.label for s in block_scorers(BLOCKS)][:2] == ["mahalanobis@block2", "residual@block2"]
    with pytest.raises(InvalidInputError, match="repeat"):
        block_scorers([("a", 2), ("a", 3)])
    with pytest.raises(InvalidInputError, match="scorers is empty"):
        block_scorers(BLOCKS, [])


def test_a_detector_of_block_scorers_saves_and_loads(tmp_path, data):
    from fmood.calibration.detector import OODDetector

    X, _, Q = data
    detector = OODDetector(scorers=block_scorers(BLOCKS)).fit(X)
    path = detector.save(tmp_path / "detector")
    loaded = OODDetector.load(path)
    np.testing.assert_array_equal(loaded.degree(Q), detector.degree(Q))
    # The early block carries the shift: its own p-values see it.
    p = detector.pvalues(Q)
    assert p.shape[1] == 4 + 1
    assert p.iloc[:, 0].median() < 0.05 < p.iloc[:, 2].median()

    arrays = dict(np.load(path / "arrays.npz"))
    means = next(k for k in arrays if k.endswith("scorer0.inner.means_"))
    arrays[means] = arrays[means][:, :5]
    np.savez(path / "arrays.npz", **arrays)
    with pytest.raises(StoreCorruptError, match="block scorer mahalanobis@block2: .*means_"):
        OODDetector.load(path)
