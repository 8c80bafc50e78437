import numpy as np
import pytest

from fmood.errors import InvalidInputError
from fmood.scorers import KNNScorer


def brute_force(reference, queries, k, normalize=True):
    if normalize:
        reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    dist = np.linalg.norm(queries[:, None, :].astype(np.float64) - reference[None], axis=2)
    return np.sort(dist, axis=1)[:, :k], np.argsort(dist, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("normalize", [True, False])
def test_matches_numpy_brute_force(reference, shifted, normalize):
    scorer = KNNScorer(k=7, normalize=normalize).fit(reference)
    dist, ids = brute_force(reference, shifted, 7, normalize)
    scores, got_ids = scorer.kneighbors(shifted)
    np.testing.assert_allclose(scores, dist[:, -1], rtol=1e-4)
    np.testing.assert_array_equal(got_ids[:, 0], ids[:, 0])
    mean = KNNScorer(k=7, aggregate="mean", normalize=normalize).fit(reference).score(shifted)
    np.testing.assert_allclose(mean, dist.mean(axis=1), rtol=1e-4)


def test_matches_pytorch_ood(reference, in_dist, shifted):
    torch = pytest.importorskip("torch")
    KNN = pytest.importorskip("pytorch_ood.detector").KNN
    queries = np.r_[in_dist, shifted]
    ours = KNNScorer(k=10).fit(reference).score(queries)
    theirs = (
        KNN(None, k=10)
        .fit_features(torch.from_numpy(reference), torch.zeros(len(reference), dtype=torch.long))
        .predict_features(torch.from_numpy(queries))
    )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-4)


def test_ann_index_agrees_with_exact(reference, in_dist):
    exact = KNNScorer(k=5).fit(reference).score(in_dist)
    approx = KNNScorer(k=5, index="HNSW32", ef_search=128).fit(reference).score(in_dist)
    assert np.corrcoef(exact, approx)[0, 1] > 0.99


def test_chunking_does_not_change_scores(reference, shifted):
    whole = KNNScorer(k=5).fit(reference).score(shifted)
    chunked = KNNScorer(k=5, batch_size=7).fit(reference).score(shifted)
    np.testing.assert_array_equal(whole, chunked)


def test_k_larger_than_reference_is_refused(reference):
    with pytest.raises(InvalidInputError, match="k=401 exceeds the 400 reference"):
        KNNScorer(k=401).fit(reference)
    with pytest.raises(InvalidInputError, match="aggregate"):
        KNNScorer(k=1, aggregate="median").fit(reference)
