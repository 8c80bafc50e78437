import numpy as np
import pytest

from fmood import drop_nonfinite
from fmood._validation import check_embeddings, check_positive_int
from fmood.errors import InvalidInputError


def test_nonfinite_rows_are_listed_with_a_count_beyond_ten():
    X = np.zeros((30, 3), dtype=np.float32)
    X[[1, 4]] = np.nan
    X[10:25, 2] = np.inf
    with pytest.raises(InvalidInputError, match=r"17 row\(s\): 1, 4, 10, .* and 7 more"):
        check_embeddings(X)


def test_float64_overflow_to_float32_counts_as_nonfinite():
    with pytest.raises(InvalidInputError, match="row"):
        check_embeddings(np.array([[1e300, 0.0]]))


def test_drop_nonfinite_reports_what_it_dropped():
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    X[2, 1] = np.nan
    kept, dropped = drop_nonfinite(X)
    np.testing.assert_array_equal(dropped, [2])
    np.testing.assert_array_equal(kept, X[[0, 1, 3]].astype(np.float32))


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros(3), "2-D"),
        (np.zeros((0, 3)), "at least 1"),
        (np.zeros((2, 0)), "0 features"),
        (np.array([["a"]]), "numeric"),
    ],
)
def test_shape_and_type_errors(bad, match):
    with pytest.raises(InvalidInputError, match=match):
        check_embeddings(bad)


def test_dimension_and_positive_int():
    with pytest.raises(InvalidInputError, match="has 3 features, expected 4"):
        check_embeddings(np.zeros((2, 3)), dim=4)
    assert check_positive_int(np.int64(3), "k") == 3
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InvalidInputError, match="k must be"):
            check_positive_int(bad, "k")


def test_complex_is_refused_not_cast():
    X = np.ones((3, 2), dtype=np.complex64) * 1j
    with pytest.raises(InvalidInputError, match=r"X is complex \(complex64\).*imaginary part"):
        check_embeddings(X)
    with pytest.raises(InvalidInputError, match="complex"):
        drop_nonfinite(X)


def test_bool_and_integers_are_exact_real_inputs():
    np.testing.assert_array_equal(check_embeddings(np.array([[True, False]])), [[1.0, 0.0]])
    integers = np.array([[3, -2]], dtype=np.int8)
    np.testing.assert_array_equal(check_embeddings(integers), [[3.0, -2.0]])
