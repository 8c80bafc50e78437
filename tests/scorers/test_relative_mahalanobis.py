import numpy as np
import torch
from pytorch_ood.detector import RMD

from fmood.scorers import RelativeMahalanobisScorer


def test_with_labels_matches_pytorch_ood(reference, shifted):
    labels = np.arange(len(reference)) % 3
    ours = RelativeMahalanobisScorer(shrinkage=None).fit(reference, labels).score(shifted)
    theirs = RMD(None).fit_features(
        torch.from_numpy(reference), torch.from_numpy(labels)
    ).predict_features(torch.from_numpy(shifted)).numpy()
    # pytorch-ood uses unnormalised scatter matrices for both Gaussians: scores / n.
    np.testing.assert_allclose(theirs * len(reference), ours, rtol=1e-3, atol=1e-3)


def test_label_free_uses_clusters(reference, in_dist):
    scorer = RelativeMahalanobisScorer(n_clusters=3).fit(reference)
    scores = scorer.score(in_dist)
    assert np.isfinite(scores).all() and scores.std() > 0
