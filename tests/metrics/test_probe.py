import numpy as np
import pytest
from scipy.special import softmax

from fmood.errors import InvalidInputError, NotFittedError
from fmood.metrics.probe import LinearProbe

D = 12


def labelled(n, n_classes=3, seed=0):
    """Gaussian classes with unequal feature scales and offsets (standardising matters)."""
    centers = np.random.default_rng(99).standard_normal((n_classes, D)) * 2.0
    rng = np.random.default_rng(seed)
    y = rng.integers(n_classes, size=n)
    X = centers[y] + rng.standard_normal((n, D)) * np.linspace(0.5, 2.0, D)
    return (X * np.geomspace(0.1, 10.0, D) + 5.0).astype(np.float32), y


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("standardize", [True, False])
def test_raw_head_reproduces_the_internal_model(n_classes, standardize):
    X, y = labelled(300, n_classes)
    probe = LinearProbe(standardize=standardize).fit(X, y)
    Xt, _ = labelled(100, n_classes, seed=1)
    assert probe.weight_.shape == (n_classes, D) and probe.bias_.shape == (n_classes,)
    logits = probe.logits(Xt)
    assert logits.shape == (100, n_classes) and logits.dtype == np.float64
    np.testing.assert_allclose(logits, Xt.astype(np.float64) @ probe.weight_.T + probe.bias_)
    X64 = Xt.astype(np.float64)  # the model was fitted in float64
    np.testing.assert_allclose(
        probe.predict_proba(Xt), probe.estimator_.predict_proba(X64), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_array_equal(probe.predict(Xt), probe.estimator_.predict(X64))


def test_head_is_class_centred():
    X, y = labelled(300)
    probe = LinearProbe().fit(X, y)
    np.testing.assert_allclose(probe.weight_.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(probe.bias_.sum(), 0.0, atol=1e-12)
    assert np.linalg.matrix_rank(probe.weight_) == 2


def test_binary_head_is_the_symmetric_split_of_sklearns_logit():
    X, y = labelled(300, 2)
    probe = LinearProbe().fit(X, y)
    logits = probe.logits(X)
    np.testing.assert_allclose(logits.sum(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(
        logits[:, 1] - logits[:, 0],
        probe.estimator_.decision_function(X.astype(np.float64)),
        rtol=1e-9,
    )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_head_is_the_l2_penalised_multinomial_optimum(n_classes):
    # Stationarity of C * sum_i CE_i + ||W||^2 / 2: W = C * (onehot - P)^T X. It holds for the
    # 2-class head too, so C means the same for binary and multiclass tasks.
    X, y = labelled(300, n_classes)
    X = (X - X.mean(0)) / X.std(0)
    C = 0.05
    probe = LinearProbe(C=C, standardize=False, max_iter=5000).fit(X, y)
    residual = np.eye(n_classes)[y] - probe.predict_proba(X)
    np.testing.assert_allclose(probe.weight_, C * residual.T @ X, atol=2e-3)


def test_accuracy_labels_and_determinism():
    X, y = labelled(300)
    names = np.array(["benign", "malignant", "normal"])
    probe = LinearProbe().fit(X, names[y])
    Xt, yt = labelled(300, seed=1)
    np.testing.assert_array_equal(probe.classes_, names)
    assert np.mean(probe.predict(Xt) == names[yt]) > 0.9
    again = LinearProbe().fit(X, names[y])
    np.testing.assert_array_equal(again.weight_, probe.weight_)
    np.testing.assert_array_equal(again.bias_, probe.bias_)


def test_torch_linear_gives_the_logits():
    torch = pytest.importorskip("torch")  # the models extra; the rest of the probe needs none
    X, y = labelled(200)
    probe = LinearProbe().fit(X, y)
    head = probe.as_torch_linear()
    assert isinstance(head, torch.nn.Linear)
    assert head.in_features == D and head.out_features == 3
    assert not head.weight.requires_grad and head.weight.dtype == torch.float32
    with torch.inference_mode():
        got = head(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, probe.logits(X), rtol=1e-5, atol=1e-4)


def test_invalid_input_is_refused():
    X, y = labelled(100)
    with pytest.raises(NotFittedError, match="LinearProbe is not fitted"):
        LinearProbe().logits(X)
    with pytest.raises(NotFittedError):
        LinearProbe().as_torch_linear()
    with pytest.raises(InvalidInputError, match="at least 2 classes"):
        LinearProbe().fit(X, np.zeros(100))
    with pytest.raises(InvalidInputError, match="needs the class labels"):
        LinearProbe().fit(X, None)
    with pytest.raises(InvalidInputError, match="one entry per sample"):
        LinearProbe().fit(X, y[:-1])
    with pytest.raises(InvalidInputError, match="2-D"):
        LinearProbe().fit(X[0], y[:1])
    bad = X.copy()
    bad[3, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN or infinite values in 1 row"):
        LinearProbe().fit(bad, y)
    probe = LinearProbe().fit(X, y)
    with pytest.raises(InvalidInputError, match=f"has 5 features, expected {D}"):
        probe.predict(X[:, :5])
    with pytest.raises(InvalidInputError, match="max_iter"):
        LinearProbe(max_iter=0).fit(X, y)


def test_softmax_of_logits_is_predict_proba():
    X, y = labelled(100)
    probe = LinearProbe(C=0.1).fit(X, y)
    np.testing.assert_allclose(probe.predict_proba(X), softmax(probe.logits(X), axis=1))
    assert "C=0.1" in repr(probe)
