"""check_target and TargetScaler."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import DataConversionWarning

from deepfit.data.target import TargetScaler, check_target
from deepfit.errors import DataError
from deepfit.tasks.inference import infer_task


def test_integers_become_float64():
    result = check_target([1, 2, 3])
    assert result.dtype == np.float64
    assert result.tolist() == [1.0, 2.0, 3.0]


def test_floats_and_column_vector():
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        flattened = check_target(np.array([[1.5], [2.5]]))
    np.testing.assert_array_equal(flattened, [1.5, 2.5])


def test_several_target_columns_are_refused():
    with pytest.raises(DataError, match="one target"):
        check_target(np.ones((3, 2)))


def test_pandas_series_with_any_index():
    series = pd.Series([3.0, 4.5], index=[10, 20], name="price")
    np.testing.assert_array_equal(check_target(series, "price"), [3.0, 4.5])


def test_numbers_written_as_text_are_accepted():
    np.testing.assert_array_equal(check_target(pd.Series(["1.5", "2"])), [1.5, 2.0])


def test_boolean_target():
    np.testing.assert_array_equal(check_target(np.array([True, False])), [1.0, 0.0])


def test_text_target_names_the_row():
    with pytest.raises(DataError, match=r"target 'kind' must be numeric.*row 2 holds 'cat'"):
        check_target(pd.Series(["1.0", "cat", "dog"]), "kind")


def test_missing_values_name_the_rows():
    with pytest.raises(DataError, match=r"'price' is missing in 2 row\(s\) \(first: 2, 4\)"):
        check_target(pd.Series([1.0, np.nan, 3.0, None]), "price")


def test_missing_values_in_a_list():
    with pytest.raises(DataError, match=r"missing in 1 row\(s\) \(first: 3\)"):
        check_target([1, 2, None])


def test_infinite_values():
    with pytest.raises(DataError, match=r"infinite in 2 row\(s\) \(first: 1, 3\)"):
        check_target([np.inf, 1.0, -np.inf])


def test_empty_target():
    with pytest.raises(DataError, match="has no values"):
        check_target([], "y")


def test_scaler_round_trip():
    y = np.random.default_rng(0).normal(loc=50.0, scale=8.0, size=200)
    scaler = TargetScaler.fit(y)
    z = scaler.transform(y)
    assert z.mean() == pytest.approx(0.0, abs=1e-12)
    assert z.std() == pytest.approx(1.0)
    assert scaler.mean == pytest.approx(y.mean())
    assert scaler.std == pytest.approx(y.std())
    np.testing.assert_allclose(scaler.inverse(z), y)


def test_scaler_known_values():
    scaler = TargetScaler.fit(np.array([1.0, 3.0]))
    assert (scaler.mean, scaler.std) == (2.0, 1.0)
    np.testing.assert_array_equal(scaler.transform(np.array([2.0, 5.0])), [0.0, 3.0])
    np.testing.assert_array_equal(scaler.inverse(np.array([-1.0])), [1.0])


def test_constant_target_std_falls_back_to_one():
    scaler = TargetScaler.fit(np.full(10, 7.0))
    assert scaler.mean == 7.0
    assert scaler.std == 1.0
    np.testing.assert_array_equal(scaler.transform(np.array([7.0, 8.0])), [0.0, 1.0])
    np.testing.assert_array_equal(scaler.inverse(np.array([0.0, 1.0])), [7.0, 8.0])


def test_a_target_of_lists_is_refused_by_name():
    with pytest.raises(DataError, match="target 'y' holds lists or records"):
        check_target(pd.Series([[1.0, 2.0]] * 5), "y")
    with pytest.raises(DataError, match="target 'y' holds lists or records"):
        infer_task(pd.Series([np.zeros(2)] * 5), "y")
