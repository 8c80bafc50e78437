"""The field's reference implementations (pytorch-ood 0.4.0) on precomputed embeddings.

Each baseline wraps one pytorch-ood detector behind fmood's scorer contract
(:class:`~fmood.scorers.base.BaseScorer`): ``fit(X, y=None)`` returns self,
``score_samples(X)`` (alias ``score(X)``) returns float64 scores of shape (n_samples,), higher
= more OOD, fitted state ends in ``_``, and ``get_params``/``set_params``/``sklearn.base.clone``
work. Baselines are registered by name (:func:`make_baseline`, :func:`list_baselines`).
Feature detectors run through their ``fit_features`` / ``predict_features`` API; logit
detectors run on a :class:`~fmood.metrics.probe.LinearProbe` trained on the in-distribution
labels and passed to them as their model (a ``torch.nn.Linear`` head).

Every pytorch-ood 0.4.0 detector used here already returns higher = more OOD (the
``Detector.predict`` contract; each one negates its paper's confidence where needed), so no
sign is flipped. Numpy arrays become float32 CPU tensors at the boundary, copied batch by batch
so that read-only (memory-mapped) arrays work; detectors run under ``torch.inference_mode()``.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from numpy.typing import ArrayLike

from fmood._validation import check_positive_int
from fmood.errors import InvalidInputError
from fmood.metrics.probe import LinearProbe
from fmood.registry import Registry
from fmood.scorers.base import BaseScorer, batched, construct

try:
    from pytorch_ood.api import Detector
    from pytorch_ood.detector import GMM, KNN, EnergyBased, Mahalanobis, MaxLogit, MaxSoftmax, ViM
except ImportError as exc:  # pytorch-ood is the optional "bench" dependency
    raise ImportError(
        "fmood_bench.evaluation.baselines needs pytorch-ood 0.4.0: pip install 'fmood[bench]'"
    ) from exc

#: Rows per detector call: bounds GMM's (n_classes, batch, d) float64 temporaries.
BATCH_SIZE = 1024

#: Baselines that score through a linear probe's logits, so need labels ``y`` in ``fit``.
PROBE_BASED = ("msp", "energy", "maxlogit", "vim")


class Baseline(BaseScorer):
    """A pytorch-ood detector on embeddings: ``fit(X, y=None)``, then ``score_samples(X)``.

    Subclasses set ``name`` and ``reference``, store their constructor arguments verbatim,
    fit the detector in ``_fit`` (as ``detector_``) and score one batch in ``_score``.
    Unlike fmood's scorers, a baseline holds a torch detector, so :meth:`get_state` refuses
    to save it (an :class:`~fmood.calibration.detector.OODDetector` of baselines can be
    fitted and used, not saved).

    Attributes
    ----------
    detector_ : pytorch_ood.api.Detector
        The fitted pytorch-ood detector.
    n_features_in_ : int
        Number of features seen by ``fit``.
    """

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Baseline:
        """Fit on in-distribution embeddings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            In-distribution class labels; required where ``uses_labels`` (class-conditional
            and probe-based baselines), else ignored.

        Returns
        -------
        self
        """
        X, labels = self._validate_fit_data(X, y)
        if self.uses_labels and labels is None:
            raise InvalidInputError(
                f"baseline {self.name!r} needs the in-distribution class labels: call fit(X, y)"
            )
        with torch.inference_mode():
            self._fit(X, labels)
        self.n_features_in_ = X.shape[1]
        return self

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """OOD score of each row of ``X`` (n_samples, n_features), shape (n_samples,),
        float64, higher = more OOD."""
        X = self._validate_score_data(X)
        out = np.empty(X.shape[0], dtype=np.float64)
        with torch.inference_mode():
            for rows in batched(X.shape[0], BATCH_SIZE):
                out[rows] = self._score(_tensor(X[rows])).numpy()
        return out

    def get_state(self) -> dict[str, np.ndarray]:
        """Refused: a baseline's fitted state is a torch detector, not arrays."""
        raise InvalidInputError(
            f"baseline {self.name!r} holds a pytorch-ood detector, which fmood does not save; "
            "fit it again where it is needed"
        )

    @abstractmethod
    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        """Fit ``detector_`` on validated ``X`` (n_samples, n_features) and labels ``y``."""

    @abstractmethod
    def _score(self, z: torch.Tensor) -> torch.Tensor:
        """Scores of one batch ``z`` (batch, n_features), float32 tensor, shape (batch,)."""


#: Every baseline by name; :func:`_register` adds to it.
BASELINES: Registry[type[Baseline]] = Registry("baseline")
B = TypeVar("B", bound=type[Baseline])


def _register(cls: B) -> B:
    """Class decorator: make a baseline available to :func:`make_baseline` as ``cls.name``."""
    BASELINES.register(cls.name, cls)
    return cls


@_register
class KNNBaseline(Baseline):
    """pytorch-ood ``KNN``: distance to the k-th nearest in-distribution neighbour.

    Parameters
    ----------
    k : int
        Neighbour rank; pytorch-ood's default 50 (the paper's CIFAR-10 value). Must not exceed
        the number of fitted samples.
    normalize : bool
        L2-normalise features first (pytorch-ood's default, the paper's choice).

    Notes
    -----
    The score is the Euclidean (not squared) distance, in [0, 2] for normalised features.
    Labels are not used. pytorch-ood searches with scikit-learn's ``NearestNeighbors``
    (``n_jobs=-1``, all cores), which computes distances in bounded chunks.

    Attributes
    ----------
    detector_ : pytorch_ood.detector.KNN
    n_features_in_ : int

    See Also
    --------
    fmood.scorers.KNNScorer : fmood's FAISS-backed implementation, same scores.

    References
    ----------
    Sun, Ming, Zhu & Li, "Out-of-Distribution Detection with Deep Nearest Neighbors",
    ICML 2022.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(100, 8))
    >>> baseline = KNNBaseline(k=5).fit(X)
    >>> scores = baseline.score_samples(np.vstack([X[:2], X[:2] + 10]))
    >>> scores.shape, bool(scores[2:].min() > scores[:2].max())
    ((4,), True)
    """

    name = "knn"
    reference = "Sun et al., Out-of-Distribution Detection with Deep Nearest Neighbors, ICML 2022"

    def __init__(self, k: int = 50, normalize: bool = True) -> None:
        self.k = k
        self.normalize = normalize

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        k = check_positive_int(self.k, "k")
        if k > X.shape[0]:
            raise InvalidInputError(
                f"k={k} exceeds the {X.shape[0]} reference samples; pass k <= {X.shape[0]}"
            )
        unlabelled = torch.zeros(X.shape[0], dtype=torch.long)  # >= 0: all in-distribution
        self.detector_ = KNN(None, k=k, normalize=self.normalize).fit_features(
            _tensor(X), unlabelled
        )

    def _score(self, z: torch.Tensor) -> torch.Tensor:
        return self.detector_.predict_features(z)


@_register
class MahalanobisBaseline(Baseline):
    """pytorch-ood ``Mahalanobis``: distance to the closest class mean, shared covariance.

    Needs labels ``y``.

    Notes
    -----
    pytorch-ood returns ``0.5 * min_k (z - mu_k)^T P (z - mu_k)`` (the paper's confidence,
    negated) with ``P = (S + 1e-6 I)^-1`` and ``S`` the pooled within-class *scatter* matrix
    (not divided by n): ``d^2 / (2 n)`` under the usual covariance, so rankings match the
    paper. It inverts ``S`` in float32 with that fixed ridge; when
    ``n_samples - n_classes < n_features`` ``S`` is singular and the scores are round-off
    (even negative): ``fit`` then warns. There is no parameter to change this. Memory:
    one (d, d) matrix and one (batch, d) temporary per class.

    Attributes
    ----------
    detector_ : pytorch_ood.detector.Mahalanobis
    n_features_in_ : int

    See Also
    --------
    fmood.scorers.MahalanobisScorer : fmood's version, with shrinkage and a Gram form.

    References
    ----------
    Lee, Lee, Lee & Shin, "A Simple Unified Framework for Detecting Out-of-Distribution
    Samples and Adversarial Attacks", NeurIPS 2018.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(2, size=200)
    >>> X = rng.normal(size=(200, 4)) + 3 * np.eye(2, 4)[y]
    >>> baseline = MahalanobisBaseline().fit(X, y)
    >>> bool(baseline.score_samples(X[:1] + 8)[0] > baseline.score_samples(X[:1])[0])
    True
    """

    name = "mahalanobis"
    reference = "Lee et al., A Simple Unified Framework for Detecting OOD Samples, NeurIPS 2018"
    uses_labels = True

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        assert y is not None  # fit() refuses y=None where uses_labels
        labels = _encode(y)
        n_classes = int(labels.max()) + 1
        if X.shape[0] - n_classes < X.shape[1]:
            warnings.warn(
                f"pytorch-ood's Mahalanobis: {X.shape[0]} samples in {n_classes} classes leave "
                f"the pooled scatter matrix of {X.shape[1]} features singular; its float32 "
                "inverse with a 1e-6 ridge makes the scores unreliable",
                RuntimeWarning,
                stacklevel=3,
            )
        self.detector_ = Mahalanobis(None).fit_features(_tensor(X), labels)

    def _score(self, z: torch.Tensor) -> torch.Tensor:
        return self.detector_.predict_features(z)


@_register
class GMMBaseline(Baseline):
    """pytorch-ood ``GMM``: negative log-likelihood under one Gaussian per class.

    The class-conditional Gaussian model of Lee et al. (NeurIPS 2018) with per-class
    covariances and the full mixture likelihood; pytorch-ood cites no paper for it.
    Needs labels ``y``.

    Parameters
    ----------
    reg : float
        Ridge added to each class covariance (pytorch-ood's default 1e-6). With no more
        samples in a class than features the covariance is singular and the score is
        dominated by the squared distance from the class's span over ``reg``: raise ``reg``
        then.

    Notes
    -----
    The score is ``-log sum_k pi_k N(z | mu_k, Sigma_k)`` (float64, natural log), pi_k the
    class frequencies. pytorch-ood keeps n_classes (d, d) float64 precision matrices and
    forms (n_classes, batch, d) float64 temporaries when scoring, bounded by ``BATCH_SIZE``.

    Attributes
    ----------
    detector_ : pytorch_ood.detector.GMM
    n_features_in_ : int

    See Also
    --------
    fmood.scorers.GMMScorer : a label-free mixture on PCA-whitened features.

    References
    ----------
    Lee, Lee, Lee & Shin, "A Simple Unified Framework for Detecting Out-of-Distribution
    Samples and Adversarial Attacks", NeurIPS 2018.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(2, size=200)
    >>> X = rng.normal(size=(200, 4)) + 3 * np.eye(2, 4)[y]
    >>> baseline = GMMBaseline().fit(X, y)
    >>> bool(baseline.score_samples(X[:1] + 8)[0] > baseline.score_samples(X[:1])[0])
    True
    """

    name = "gmm"
    reference = "Lee et al., NeurIPS 2018 (class-conditional Gaussians); no dedicated paper"
    uses_labels = True

    def __init__(self, reg: float = 1e-6) -> None:
        self.reg = reg

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        assert y is not None  # fit() refuses y=None where uses_labels
        try:
            self.detector_ = GMM(None, reg=self.reg).fit_features(_tensor(X), _encode(y))
        except ValueError as exc:  # a class covariance not positive definite
            raise InvalidInputError(f"pytorch-ood's GMM could not be fitted: {exc}") from exc

    def _score(self, z: torch.Tensor) -> torch.Tensor:
        return self.detector_.predict_features(z)


class ProbeBaseline(Baseline):
    """A logit-based detector on a :class:`LinearProbe` trained on the labels ``y``.

    Parameters
    ----------
    C, max_iter, standardize, random_state
        Passed to :class:`LinearProbe`.

    Attributes
    ----------
    probe_ : LinearProbe
    head_ : torch.nn.Linear
        The probe's head, given to the detector as its model.
    detector_ : pytorch_ood.api.Detector
    n_features_in_ : int
    """

    uses_labels = True

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

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        assert y is not None  # fit() refuses y=None where uses_labels
        self.probe_ = LinearProbe(
            C=self.C,
            max_iter=self.max_iter,
            standardize=self.standardize,
            random_state=self.random_state,
        ).fit(X, y)
        self.head_ = self.probe_.as_torch_linear()
        self.detector_ = self._detector(X, y)

    @abstractmethod
    def _detector(self, X: np.ndarray, y: np.ndarray) -> Detector:
        """The pytorch-ood detector, built on ``head_``."""

    def _score(self, z: torch.Tensor) -> torch.Tensor:
        return self.detector_.predict(z)


class TemperedProbeBaseline(ProbeBaseline):
    """A probe baseline whose pytorch-ood detector takes a temperature ``t``."""

    detector_class: ClassVar[type[Detector]]

    def __init__(
        self,
        t: float = 1.0,
        C: float = 1.0,
        max_iter: int = 1000,
        standardize: bool = True,
        random_state: int | None = 0,
    ) -> None:
        super().__init__(C, max_iter, standardize, random_state)
        self.t = t

    def _detector(self, X: np.ndarray, y: np.ndarray) -> Detector:
        return self.detector_class(self.head_, t=self.t)


@_register
class MSPBaseline(TemperedProbeBaseline):
    """pytorch-ood ``MaxSoftmax``: negative maximum softmax probability of the probe.

    Parameters
    ----------
    t : float
        Softmax temperature (pytorch-ood's default 1, the paper's plain softmax).
    C, max_iter, standardize, random_state
        Passed to :class:`LinearProbe`.

    Attributes
    ----------
    probe_ : LinearProbe
    head_ : torch.nn.Linear
    detector_ : pytorch_ood.detector.MaxSoftmax
    n_features_in_ : int

    See Also
    --------
    EnergyBaseline, MaxLogitBaseline : other scores of the same logits.

    Notes
    -----
    Score ``-max_j softmax(logits / t)_j``, in [-1, -1/n_classes].

    References
    ----------
    Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution
    Examples in Neural Networks", ICLR 2017.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(3, size=300)
    >>> X = rng.normal(size=(300, 5)) + 3 * np.eye(3, 5)[y]
    >>> scores = MSPBaseline().fit(X, y).score_samples(X[:4])
    >>> bool(((-1 <= scores) & (scores <= -1 / 3)).all())
    True
    """

    name = "msp"
    reference = (
        "Hendrycks & Gimpel, A Baseline for Detecting Misclassified and Out-of-Distribution "
        "Examples in Neural Networks, ICLR 2017"
    )

    detector_class = MaxSoftmax


@_register
class EnergyBaseline(TemperedProbeBaseline):
    """pytorch-ood ``EnergyBased``: the energy of the probe's logits.

    Parameters
    ----------
    t : float
        Temperature (pytorch-ood's and the paper's default 1).
    C, max_iter, standardize, random_state
        Passed to :class:`LinearProbe`.

    Attributes
    ----------
    probe_ : LinearProbe
    head_ : torch.nn.Linear
    detector_ : pytorch_ood.detector.EnergyBased
    n_features_in_ : int

    See Also
    --------
    MSPBaseline, MaxLogitBaseline : other scores of the same logits.

    Notes
    -----
    Score ``E = -t * logsumexp(logits / t)``; the paper's negative energy is its ID score.

    References
    ----------
    Liu, Wang, Owens & Li, "Energy-based Out-of-distribution Detection", NeurIPS 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import logsumexp
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(3, size=300)
    >>> X = rng.normal(size=(300, 5)) + 3 * np.eye(3, 5)[y]
    >>> baseline = EnergyBaseline().fit(X, y)
    >>> energy = -logsumexp(baseline.probe_.logits(X[:4]), axis=1)
    >>> np.allclose(baseline.score_samples(X[:4]), energy, atol=1e-4)
    True
    """

    name = "energy"
    reference = "Liu et al., Energy-based Out-of-distribution Detection, NeurIPS 2020"

    detector_class = EnergyBased


@_register
class MaxLogitBaseline(ProbeBaseline):
    """pytorch-ood ``MaxLogit``: negative maximum logit of the probe.

    Parameters
    ----------
    C, max_iter, standardize, random_state
        Passed to :class:`LinearProbe`.

    Notes
    -----
    Score ``-max_j logits_j``. Unlike MSP, MaxLogit and energy depend on the shift shared by
    all logits, which a softmax classifier leaves free; the probe's logits are class-centred
    (they sum to zero), the form of the L2-penalised optimum.

    Attributes
    ----------
    probe_ : LinearProbe
    head_ : torch.nn.Linear
    detector_ : pytorch_ood.detector.MaxLogit
    n_features_in_ : int

    See Also
    --------
    MSPBaseline, EnergyBaseline : other scores of the same logits.

    References
    ----------
    Hendrycks, Basart, Mazeika, Zou, Kwon, Mostajabi, Steinhardt & Song, "Scaling
    Out-of-Distribution Detection for Real-World Settings", ICML 2022.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(3, size=300)
    >>> X = rng.normal(size=(300, 5)) + 3 * np.eye(3, 5)[y]
    >>> baseline = MaxLogitBaseline().fit(X, y)
    >>> logits = baseline.probe_.logits(X[:4])
    >>> np.allclose(baseline.score_samples(X[:4]), -logits.max(axis=1), atol=1e-4)
    True
    """

    name = "maxlogit"
    reference = "Hendrycks et al., Scaling OOD Detection for Real-World Settings, ICML 2022"

    def _detector(self, X: np.ndarray, y: np.ndarray) -> MaxLogit:
        return MaxLogit(self.head_)


@_register
class ViMBaseline(ProbeBaseline):
    """pytorch-ood ``ViM``: virtual logit from the residual norm, minus the probe's energy.

    Parameters
    ----------
    dim : int, optional
        Dimension of the principal subspace; ``None`` picks :func:`vim_dim` at fit time.
        Must satisfy ``1 <= dim < n_features``.
    C, max_iter, standardize, random_state
        Passed to :class:`LinearProbe`.

    Attributes
    ----------
    dim_ : int
        The principal-subspace dimension used.
    probe_ : LinearProbe
    head_ : torch.nn.Linear
    detector_ : pytorch_ood.detector.ViM
    n_features_in_ : int

    See Also
    --------
    fmood.scorers.ResidualScorer : the label-free residual half of ViM.

    Notes
    -----
    Score ``alpha * ||x_res|| - logsumexp(logits)``, where ``x_res`` is the part of
    ``x - u`` outside the top-``dim`` eigenvectors of the training features' second-moment
    matrix about ``u`` and ``alpha`` = mean max logit / mean residual norm on the training
    set. ``u = -pinv(W) b`` comes from the probe's head on the raw features; ``W`` has rank
    ``n_classes - 1`` (class-centred rows), and pytorch-ood's float32 ``pinv`` drops the
    round-off singular value, so ``W u + b = 0``. pytorch-ood forms a (d, d) matrix and its
    eigendecomposition.

    References
    ----------
    Wang, Li, Feng & Zhang, "ViM: Out-Of-Distribution with Virtual-logit Matching",
    CVPR 2022.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(3, size=300)
    >>> X = rng.normal(size=(300, 8)) + 3 * np.eye(3, 8)[y]
    >>> baseline = ViMBaseline().fit(X, y)
    >>> baseline.dim_, baseline.score_samples(X[:4]).shape
    (4, (4,))
    """

    name = "vim"
    reference = "Wang et al., ViM: Out-Of-Distribution with Virtual-logit Matching, CVPR 2022"

    def __init__(
        self,
        dim: int | None = None,
        C: float = 1.0,
        max_iter: int = 1000,
        standardize: bool = True,
        random_state: int | None = 0,
    ) -> None:
        super().__init__(C, max_iter, standardize, random_state)
        self.dim = dim

    def _detector(self, X: np.ndarray, y: np.ndarray) -> ViM:
        n_samples, n_features = X.shape
        dim = vim_dim(n_features, n_samples) if self.dim is None else self.dim
        dim = check_positive_int(dim, "dim")
        if dim >= n_features:
            raise InvalidInputError(
                f"dim={dim} leaves no residual in {n_features} features; pass dim < {n_features}"
            )
        self.dim_ = dim
        detector = ViM(None, d=dim, w=self.head_.weight, b=self.head_.bias)
        return detector.fit_features(_tensor(X), _encode(y))

    def _score(self, z: torch.Tensor) -> torch.Tensor:
        return self.detector_.predict_features(z)


def vim_dim(n_features: int, n_samples: int) -> int:
    """Principal-subspace dimension for ViM on ``n_samples`` features of ``n_features`` dims.

    The ViM authors' settings (official code: 1000 for ``n_features >= 2048``, 512 for ViT's
    768), ``n_features // 2`` below 768 (pytorch-ood's own fallback), capped at
    ``n_samples // 2``: the training features span at most ``n_samples`` directions, and a
    principal subspace that covers them leaves training residuals of round-off size, which
    makes ``alpha`` explode. Always at least 1 and below ``n_features`` (for
    ``n_features >= 2``).
    """
    if n_features >= 2048:
        rule = 1000
    elif n_features >= 768:
        rule = 512
    else:
        rule = n_features // 2
    return max(1, min(rule, n_samples // 2))


def make_baseline(name: str, **params: Any) -> Baseline:
    """Create the baseline registered as ``name`` (one of :func:`list_baselines`) with ``params``.

    An unknown name raises :class:`~fmood.registry.UnknownNameError` (an
    :class:`InvalidInputError`) listing close matches and every baseline.
    """
    return construct(BASELINES.get(name), "baseline", name, params)


def list_baselines(filter: str | Iterable[str] | None = None) -> list[str]:
    """Names of the baselines, sorted; ``filter``: fnmatch pattern(s), e.g. ``"m*"``."""
    return BASELINES.names(filter)


def is_baseline(name: str) -> bool:
    """Whether a baseline is registered as ``name``."""
    return name in BASELINES


def _tensor(X: np.ndarray) -> torch.Tensor:
    """A float32 CPU tensor holding a copy of ``X``."""
    return torch.tensor(X, dtype=torch.float32)


def _encode(y: np.ndarray) -> torch.Tensor:
    """Labels as int64 class indices 0..n_classes-1 (pytorch-ood's expectation), shape (n,)."""
    return torch.from_numpy(np.unique(y, return_inverse=True)[1].astype(np.int64))
