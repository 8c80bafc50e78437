"""A linear probe: multinomial logistic regression on frozen embeddings.

On frozen foundation-model features the field's standard classifier head is a linear probe
trained on the in-distribution task. ``fmood compare`` measures failure prediction with it
(:mod:`fmood.workflows.comparison.measures`), and the benchmark's logit-based baselines (MSP,
energy, MaxLogit, ViM; :mod:`fmood_bench.evaluation.baselines`) read its logits. Needs numpy
and scikit-learn only; torch only for :meth:`LinearProbe.as_torch_linear`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import softmax
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from fmood._validation import (
    check_embeddings,
    check_is_fitted,
    check_per_sample,
    check_positive_int,
)
from fmood.errors import InvalidInputError

if TYPE_CHECKING:
    import torch


class LinearProbe(BaseEstimator):
    """Multinomial logistic regression whose head acts on the raw features.

    Parameters
    ----------
    C : float
        Inverse L2 regularisation strength (scikit-learn's ``C``).
    max_iter : int
        L-BFGS iterations; scikit-learn warns (ConvergenceWarning) if they run out.
    standardize : bool
        Standardise features before the regression (the penalty then treats every feature
        alike, and L-BFGS converges faster). The scaler is folded into ``weight_``/``bias_``.
    random_state : int or None
        Passed to scikit-learn; L-BFGS is deterministic, so fits repeat exactly.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted class labels; column ``j`` of the logits belongs to ``classes_[j]``.
    weight_ : ndarray of shape (n_classes, n_features), float64
    bias_ : ndarray of shape (n_classes,), float64
        ``logits(X) == X @ weight_.T + bias_`` on the raw features.
    estimator_ : sklearn.pipeline.Pipeline
        The fitted scaler and regression, kept as the reference ``weight_``/``bias_`` reproduce.
    n_features_in_ : int

    Notes
    -----
    The head is class-centred: the softmax ignores a shift shared by all logits, and the rows
    of ``weight_`` (and ``bias_``) sum to zero, as at the L2-penalised optimum; ``fit``
    removes the round-off. ``weight_`` then has rank ``n_classes - 1``, and ViM's origin
    ``u = -pinv(W) b`` is the minimum-norm solution of ``W u + b = 0``.

    For two classes scikit-learn fits one logit ``z``. The L2-penalised multinomial optimum
    splits it symmetrically, so the head is ``(-z/2, z/2)`` from a binary fit with ``2 * C``:
    the same model as the multinomial fit with ``C``, so ``C`` means the same for any number
    of classes.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : the regression fitted here.
    fmood_bench.evaluation.baselines.ProbeBaseline : the logit detectors that read this head.

    References
    ----------
    Alain & Bengio, "Understanding intermediate layers using linear classifier probes",
    ICLR 2017 workshop.

    Examples
    --------
    >>> import numpy as np
    >>> from fmood.metrics.probe import LinearProbe
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(3, size=300)
    >>> X = rng.normal(size=(300, 5)) + 3 * np.eye(3, 5)[y]
    >>> probe = LinearProbe().fit(X, y)
    >>> probe.weight_.shape, bool((probe.predict(X) == y).mean() > 0.9)
    ((3, 5), True)
    >>> np.allclose(probe.logits(X[:2]), X[:2] @ probe.weight_.T + probe.bias_)
    True
    """

    def __init__(
        self,
        C: float = 1.0,
        max_iter: int = 1000,
        standardize: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.standardize = standardize
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike) -> LinearProbe:
        """Train on in-distribution embeddings ``X`` (n_samples, n_features) and labels ``y``
        (n_samples,); returns self."""
        X = check_embeddings(X, "X")
        y = check_per_sample(y, X.shape[0], "y")
        if y is None:
            raise InvalidInputError("LinearProbe.fit needs the class labels y")
        classes = np.unique(y)
        if classes.size < 2:
            raise InvalidInputError(
                f"LinearProbe needs at least 2 classes in y, got {classes.size}"
            )
        binary = classes.size == 2
        regression = LogisticRegression(
            C=2.0 * self.C if binary else self.C,
            max_iter=check_positive_int(self.max_iter, "max_iter"),
            random_state=self.random_state,
        )
        steps = [StandardScaler(), regression] if self.standardize else [regression]
        estimator = make_pipeline(*steps).fit(X.astype(np.float64), y)
        weight, bias = _raw_head(estimator)
        if binary:  # sklearn's one logit z is for classes[1]: logits (0, z), centred below
            weight, bias = np.vstack([np.zeros_like(weight), weight]), np.r_[0.0, bias]
        weight, bias = weight - weight.mean(axis=0), bias - bias.mean()
        self.classes_ = classes
        self.weight_ = weight
        self.bias_ = bias
        self.estimator_ = estimator
        self.n_features_in_ = X.shape[1]
        return self

    def logits(self, X: ArrayLike) -> np.ndarray:
        """Logits ``X @ weight_.T + bias_``, shape (n_samples, n_classes), float64."""
        check_is_fitted(self, "weight_")
        X = check_embeddings(X, "X", dim=self.n_features_in_)
        return X.astype(np.float64) @ self.weight_.T + self.bias_

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities (softmax of the logits), shape (n_samples, n_classes)."""
        return softmax(self.logits(X), axis=1)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Most probable class label of each row, shape (n_samples,)."""
        return self.classes_[np.argmax(self.logits(X), axis=1)]

    def as_torch_linear(self) -> torch.nn.Linear:
        """The head as a frozen float32 ``torch.nn.Linear(n_features, n_classes)`` on the CPU."""
        check_is_fitted(self, "weight_")
        import torch  # the models extra; the probe itself is numpy and scikit-learn

        n_classes, n_features = self.weight_.shape
        linear = torch.nn.Linear(n_features, n_classes)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(self.weight_))
            linear.bias.copy_(torch.from_numpy(self.bias_))
        return linear.requires_grad_(False)


def _raw_head(estimator: Pipeline) -> tuple[np.ndarray, np.ndarray]:
    """Weights (n_logits, d) and biases (n_logits,) of ``estimator`` on unscaled features."""
    regression = estimator[-1]
    weight, bias = regression.coef_, regression.intercept_
    if len(estimator) == 1:
        return weight.copy(), bias.copy()
    scaler = estimator[0]
    weight = weight / scaler.scale_
    return weight, bias - weight @ scaler.mean_
