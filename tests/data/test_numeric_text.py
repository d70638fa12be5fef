"""Numbers written with thousands separators or a currency symbol are numbers everywhere
deepfit reads text; decimal commas are named in an error."""

import numpy as np
import pandas as pd
import pytest

from deepfit import Regressor
from deepfit.data.numeric_text import parse_numbers
from deepfit.data.preprocess import TabularPreprocessor
from deepfit.data.schema import infer_schema
from deepfit.data.target import check_target
from deepfit.errors import DataError
from deepfit.tasks.inference import infer_task


def test_grouped_digits_currency_and_rates_are_read_and_ambiguous_commas_are_not():
    read = {"1,234.5": 1234.5, "-1,004": -1004.0, "+12,345,678": 12345678.0, " 7 ": 7.0}
    prices = {"$1,250.00": 1250.0, "-$5": -5.0, "$-5": -5.0, "€ 12.5": 12.5, "£.5": 0.5}
    rates = {"10.65%": 10.65, "83.7 %": 83.7}  # a rate as written
    unread = ["1,5", "0,125", "-0,132", "12,34", "1,2345", "x", "$", "+-$3", "%", "$1,23"]
    numbers = parse_numbers(pd.Series([*read, *prices, *rates, *unread]))
    expected = [*read.values(), *prices.values(), *rates.values()]
    assert numbers.tolist()[: len(expected)] == expected
    assert numbers.iloc[len(expected) :].isna().all()  # decimal commas, odd groups, words


def test_the_index_and_missing_values_are_kept():
    values = pd.Series(["2,000", None, "3"], index=[10, 20, 30], dtype=object)
    numbers = parse_numbers(values)
    assert numbers.index.tolist() == [10, 20, 30]
    assert numbers.dtype == np.float64
    assert numbers[10] == 2000.0
    assert np.isnan(numbers[20])
    assert numbers[30] == 3.0


def prices(n: int = 40) -> pd.Series:
    return pd.Series([f"{1000 * (i + 1) + 0.25:,.2f}" for i in range(n)])


def test_a_grouped_target_is_a_regression_target():
    target = prices()
    assert infer_task(target, "price").task == "regression"
    assert check_target(target, "price")[:2].tolist() == [1000.25, 2000.25]


def test_a_grouped_feature_is_numeric_at_training_and_at_prediction():
    frame = pd.DataFrame({"price": prices(), "x": np.arange(40.0)})
    schema = infer_schema(frame)
    assert schema.names("numeric") == ["price", "x"]
    prep = TabularPreprocessor(schema).fit(frame)
    new = pd.DataFrame({"price": ["12,345.5", "12345.5"], "x": [1.0, 1.0]})
    numeric = prep.transform(new).numeric
    assert numeric[0].tolist() == numeric[1].tolist()


@pytest.mark.parametrize(
    "rates",
    [
        ["1.5"] * 19 + ["2,5"],  # one stray decimal comma among numbers
        ["0,126", "-0,132", "1,5", "12,25"] * 5,  # a whole column saved with decimal commas
        ["1,250", "2,5"] * 10,  # "1,250" alone would be a thousand; "2,5" says otherwise
    ],
)
def test_a_feature_with_decimal_commas_is_named_in_an_error(rates):
    frame = pd.DataFrame({"rate": rates, "x": np.linspace(0, 1, len(rates))})
    with pytest.raises(
        DataError, match=r"column 'rate' holds numbers written with a decimal comma"
    ):
        infer_schema(frame)


def test_a_target_with_decimal_commas_is_named_in_an_error():
    target = pd.Series(["0,5", "1,25", "3,75", "10,5"] * 10)
    assert infer_task(target, "rate").task == "regression"
    with pytest.raises(DataError, match=r"target 'rate' holds numbers .* decimal comma.* '0,5'"):
        check_target(target, "rate")


def test_words_with_commas_are_still_categories():
    frame = pd.DataFrame(
        {"place": ["Paris, FR", "Lyon, FR", "Rome, IT"] * 10, "x": np.arange(30.0)}
    )
    assert infer_schema(frame).names("categorical") == ["place"]


def test_a_regressor_fits_text_prices_as_numbers():
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 100, 200)
    frame = pd.DataFrame({"x": x})
    target = pd.Series([f"{1000 * v:,.2f}" for v in x])
    model = Regressor(model="mlp", max_epochs=2, random_state=0).fit(frame, target)
    assert np.isfinite(model.predict(frame)).all()


def test_missing_markers_in_a_column_of_numbers_are_missing_values_with_a_note():
    power = pd.Series([str(90 + i) for i in range(30)], dtype=object)
    power[[3, 7]] = ["?", " - "]
    frame = pd.DataFrame({"power": power, "x": np.linspace(0, 1, 30)})
    schema = infer_schema(frame)
    assert schema.names("numeric") == ["power", "x"]
    assert schema.notes == ["numeric column 'power': '-', '?' (2 rows) read as missing"]
    prep = TabularPreprocessor(schema).fit(frame)
    marked = prep.transform(pd.DataFrame({"power": ["?", "n.a.", None], "x": [0.5] * 3}))
    np.testing.assert_array_equal(marked.numeric[0], marked.numeric[2])  # missing, as None is
    np.testing.assert_array_equal(marked.numeric[1], marked.numeric[2])
    assert np.isnan(marked.numeric[0, 0])
    with pytest.raises(DataError, match=r"holds text, e\.g\. 'unknown'"):
        prep.transform(pd.DataFrame({"power": ["unknown"], "x": [0.5]}))


def test_markers_among_words_do_not_make_a_column_numeric():
    frame = pd.DataFrame({"grade": ["A", "B", "?", "-"] * 10, "x": np.linspace(0, 1, 40)})
    assert infer_schema(frame).names("categorical") == ["grade"]
