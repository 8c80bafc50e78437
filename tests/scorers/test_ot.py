import numpy as np
import ot
import pytest

from fmood.errors import InvalidInputError
from fmood.scorers import KNNScorer, OTScorer


def test_balanced_small_reg_recovers_exact_transport_cost():
    rng = np.random.default_rng(0)
    R = rng.standard_normal((40, 5)).astype(np.float32)
    Q = (rng.standard_normal((40, 5)) + 0.5).astype(np.float32)
    scorer = OTScorer(reg=0.005, reg_m=float("inf"), normalize=False).fit(R)
    exact = ot.emd2(np.full(40, 1 / 40), np.full(40, 1 / 40), ot.dist(Q, R))
    assert scorer.score(Q).mean() == pytest.approx(exact, rel=0.05)


def test_in_a_diverse_batch_it_ranks_like_nearest_neighbours(reference, in_dist, shifted):
    queries = np.r_[in_dist, shifted[:20]]
    ours = OTScorer().fit(reference).score(queries)
    knn = KNNScorer(k=5, aggregate="mean").fit(reference).score(queries)
    assert np.corrcoef(ours, knn)[0, 1] > 0.8


def test_crowding_raises_scores(reference, in_dist):
    # One in-distribution point: within a diverse batch, then as 100 copies competing for the
    # same reference mass.
    scorer = OTScorer().fit(reference)
    in_batch = scorer.score(in_dist)[0]
    crowded = scorer.score(np.repeat(in_dist[:1], 100, axis=0))
    assert crowded.min() > 2 * in_batch


def test_bad_parameters(reference):
    with pytest.raises(InvalidInputError, match="reg"):
        OTScorer(reg=0).fit(reference)
