"""Every scorer, baseline, the linear probe and OODDetector are scikit-learn estimators.

Run over every registered scorer, every pytorch-ood baseline, the probe and the detector:
``sklearn.base.clone`` gives an unfitted copy that refits to identical scores,
``get_params``/``set_params`` round-trip (with ``__`` nesting inside a Pipeline), the
class-docstring examples run, and the scikit-learn estimator checks that apply to
unsupervised estimators with fmood's sign convention pass (see ``SKLEARN_CHECKS``).
"""

from __future__ import annotations

import doctest
import pickle
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks as checks

from fmood.calibration.detector import OODDetector
from fmood.metrics.probe import LinearProbe
from fmood.scorers import BaseScorer, KNNScorer, get_scorer, list_scorers

try:
    from fmood_bench.evaluation import baselines
except ImportError:  # pytorch-ood is the optional "bench" extra
    baselines = None

#: Settings that fit scikit-learn's check datasets (10 to 100 rows of 2 or 3 features): KNN's
#: default k is 50, and 90% of the variance of 3 features leaves no residual subspace.
SMALL = {"knn": {"k": 3}, "residual_mahalanobis": {"n_components": 1}}
BASELINE_NAMES = baselines.list_baselines() if baselines else []


def _make(kind: str, name: str) -> BaseEstimator:
    if kind == "scorer":
        return get_scorer(name, **SMALL.get(name, {}))
    if kind == "baseline":
        return baselines.make_baseline(name, **SMALL.get(name, {}))
    return LinearProbe() if kind == "probe" else OODDetector()


ESTIMATORS = (
    [("scorer", n) for n in list_scorers()]
    + [("baseline", n) for n in BASELINE_NAMES]
    + [("probe", "LinearProbe"), ("detector", "OODDetector")]
)
IDS = [f"{kind}:{name}" for kind, name in ESTIMATORS]
#: The estimators with ``score_samples``: scorers and baselines.
SCORING = [(kind, name) for kind, name in ESTIMATORS if kind in ("scorer", "baseline")]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """120 labelled reference rows in 3 classes, and 40 queries (half of them shifted)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 6)) * 3.0
    y = rng.integers(3, size=120)
    X = (centers[y] + rng.normal(size=(120, 6))).astype(np.float32)
    queries = (centers[rng.integers(3, size=40)] + rng.normal(size=(40, 6))).astype(np.float32)
    queries[20:] += 4.0
    return X, y, queries


def _outputs(estimator: BaseEstimator, queries: np.ndarray) -> dict[str, np.ndarray]:
    """What the fitted estimator computes on ``queries``, by method."""
    if isinstance(estimator, BaseScorer):
        return {
            "score_samples": estimator.score_samples(queries),
            "score": estimator.score(queries),
        }
    if isinstance(estimator, LinearProbe):
        return {"logits": estimator.logits(queries), "predict": estimator.predict(queries)}
    table = estimator.assess(queries)
    return {column: table[column].to_numpy() for column in table.columns}


def _fit(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray) -> BaseEstimator:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-reference warnings are not what is tested
        return estimator.fit(X, y)


def _fitted_attributes(estimator: BaseEstimator) -> list[str]:
    return [k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")]


@pytest.mark.parametrize(("kind", "name"), ESTIMATORS, ids=IDS)
def test_clone_is_unfitted_and_refits_to_identical_outputs(kind, name, data):
    X, y, queries = data
    fitted = _fit(_make(kind, name), X, y)
    copy = clone(fitted)
    assert copy is not fitted and not _fitted_attributes(copy)
    assert copy.get_params() == fitted.get_params()
    expected, got = _outputs(fitted, queries), _outputs(_fit(copy, X, y), queries)
    assert expected.keys() == got.keys()
    for method in expected:
        np.testing.assert_array_equal(got[method], expected[method], err_msg=method)


@pytest.mark.parametrize(("kind", "name"), ESTIMATORS, ids=IDS)
def test_refit_and_pickle_keep_outputs(kind, name, data):
    X, y, queries = data
    estimator = _fit(_make(kind, name), X, y)
    first = _outputs(estimator, queries)
    restored = pickle.loads(pickle.dumps(estimator))
    again = _outputs(_fit(estimator, X, y), queries)
    for method in first:
        np.testing.assert_array_equal(again[method], first[method], err_msg=method)
        np.testing.assert_array_equal(_outputs(restored, queries)[method], first[method])


@pytest.mark.parametrize(("kind", "name"), ESTIMATORS, ids=IDS)
def test_get_params_set_params_round_trip(kind, name):
    estimator = _make(kind, name)
    params = estimator.get_params()
    assert params == estimator.get_params(deep=False)  # no estimator-valued parameters
    rebuilt = type(estimator)().set_params(**params)
    assert rebuilt.get_params() == params
    marker = object()
    for key in params:
        assert estimator.set_params(**{key: marker}) is estimator
        assert estimator.get_params()[key] is marker  # stored verbatim, never validated
        estimator.set_params(**{key: params[key]})
    with pytest.raises(ValueError, match="Invalid parameter 'no_such_param'"):
        estimator.set_params(no_such_param=1)


def test_set_params_nests_into_a_pipeline(data):
    X, _, queries = data
    pipeline = make_pipeline(StandardScaler(), KNNScorer())
    assert pipeline.get_params()["knnscorer__k"] == 50
    pipeline.set_params(knnscorer__k=4, knnscorer__aggregate="mean")
    assert pipeline[-1].get_params()["k"] == 4
    alone = KNNScorer(k=4, aggregate="mean").fit(StandardScaler().fit_transform(X))
    np.testing.assert_allclose(
        pipeline.fit(X).score_samples(queries),
        alone.score_samples(pipeline[0].transform(queries)),
        rtol=1e-6,
    )


@pytest.mark.parametrize(("kind", "name"), ESTIMATORS, ids=IDS)
def test_docstring_examples_run(kind, name):
    cls = type(_make(kind, name))
    tests = doctest.DocTestFinder(recurse=False).find(cls, globs={cls.__name__: cls})
    examples = [t for t in tests if t.examples]
    assert examples, f"{cls.__name__} has no Examples section"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for test in examples:
            runner.run(test)
    assert runner.failures == 0


@pytest.mark.parametrize(("kind", "name"), SCORING, ids=[f"{k}:{n}" for k, n in SCORING])
def test_a_row_scores_the_same_alone_and_in_any_order(kind, name, data):
    """scikit-learn's subset and sample-order invariance checks, at float32 precision.

    Scorers work in float32 (FAISS, whitening), where a matrix product of one row and of 20
    rows may round differently: agreement is to float32 rounding, not to the 1e-7 absolute
    tolerance of ``check_methods_subset_invariance``.
    """
    if (kind, name) == ("scorer", "ot"):
        pytest.skip("the OT score of a row depends on the batch it is transported with")
    X, y, queries = data
    scorer = _fit(_make(kind, name), X, y)
    whole = scorer.score_samples(queries)
    alone = np.concatenate([scorer.score_samples(row[None]) for row in queries])
    order = np.random.default_rng(0).permutation(len(queries))
    np.testing.assert_allclose(alone, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scorer.score_samples(queries[order]), whole[order], rtol=1e-5)


#: scikit-learn checks run on every estimator, with what they exercise here. Left out:
#: - check_fit_score_takes_y: ``score(X)`` is fmood's per-sample OOD score, not
#:   scikit-learn's ``score(X, y)`` (a scalar metric), so it takes no ``y``.
#: - check_estimators_unfitted, check_requires_y_none, check_estimators_empty_data_messages,
#:   check_fit2d_1sample, check_fit2d_1feature, check_fit1d, check_fit2d_predict1d: they
#:   require scikit-learn's own exception classes or message texts; fmood raises its typed
#:   errors (``NotFittedError`` is fmood's, a RuntimeError; input errors are
#:   ``InvalidInputError``, a ValueError, with fmood's wording), tested in each module.
#: - check_outliers_*, check_outlier_contamination, check_decision_proba_consistency:
#:   scikit-learn's outlier-detector sign (higher = more normal) and ``predict``/
#:   ``contamination`` API; fmood's scores are higher = more OOD and flags are calibrated
#:   by OODDetector.
#: - check_estimator_sparse_*, check_dtype_object, check_complex_data, check_pipeline_consistency,
#:   check_dataframe_column_names_consistency, check_param_validation: sparse inputs are
#:   refused, and parameters are validated in ``fit`` with fmood's errors rather than through
#:   ``_parameter_constraints``.
SKLEARN_CHECKS: dict[str, Callable] = {
    "cloneable": checks.check_estimator_cloneable,
    "repr": checks.check_estimator_repr,
    "default_constructible": checks.check_parameters_default_constructible,
    "get_params_invariance": checks.check_get_params_invariance,
    "set_params": checks.check_set_params,
    "no_errors_in_init_or_set_params": checks.check_do_not_raise_errors_in_init_or_set_params,
    "no_attributes_set_in_init": checks.check_no_attributes_set_in_init,
    "dont_overwrite_parameters": checks.check_dont_overwrite_parameters,
    "overwrite_params": checks.check_estimators_overwrite_params,
    "fit_returns_self": checks.check_estimators_fit_returns_self,
    "readonly_memmap_input": checks.check_readonly_memmap_input,
    "n_features_in": checks.check_n_features_in,
    "fit_check_is_fitted": checks.check_fit_check_is_fitted,
    "nan_inf": checks.check_estimators_nan_inf,
    # The probe's predict and predict_proba; scorers: the tests above, at float32 precision.
    "subset_invariance": checks.check_methods_subset_invariance,
    "sample_order_invariance": checks.check_methods_sample_order_invariance,
    # These call predict/transform/decision_function/predict_proba only: the probe's.
    "fit_idempotent": checks.check_fit_idempotent,
    "dict_unchanged": checks.check_dict_unchanged,
    "pickle": checks.check_estimators_pickle,
}
PROBE_ONLY = {
    "subset_invariance",
    "sample_order_invariance",
    "fit_idempotent",
    "dict_unchanged",
    "pickle",
}
CHECK_CASES = [
    (kind, name, check)
    for kind, name in ESTIMATORS
    for check in SKLEARN_CHECKS
    if check not in PROBE_ONLY or kind == "probe"
]


@pytest.mark.parametrize(
    ("kind", "name", "check"), CHECK_CASES, ids=[f"{k}:{n}-{c}" for k, n, c in CHECK_CASES]
)
def test_sklearn_estimator_checks(kind, name, check):
    estimator = _make(kind, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        partial(SKLEARN_CHECKS[check], type(estimator).__name__)(estimator)
