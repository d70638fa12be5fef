"""The server's request encoder gives exactly the preprocessor's model inputs."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from deepfit import Regressor
from deepfit.errors import DataError
from deepfit.serve.features import FeatureSchema
from tests.support.tables import make_table


def _records(frame: pd.DataFrame) -> bytes:
    """The rows as JSON records, every float written exactly."""
    text = frame.to_json(orient="records", date_format="iso", double_precision=15)
    return json.dumps(json.loads(text)).encode()


def _same_inputs(schema: FeatureSchema, model: Regressor, frame: pd.DataFrame, body: bytes) -> None:
    encoded = schema.encode(schema.parse(body)).features
    expected = model.preprocessor_.transform(frame)
    assert schema.preprocessor is model.preprocessor_
    np.testing.assert_array_equal(encoded.numeric, expected.numeric)
    np.testing.assert_array_equal(encoded.categorical, expected.categorical)
    assert encoded.unseen_categories == expected.unseen_categories


def test_records_and_columns_encode_like_the_preprocessor(fitted: Regressor) -> None:
    frame = make_table(50, seed=3).drop(columns="y")
    frame.loc[0, "colour"] = "purple"  # unseen
    frame.loc[1, "colour"] = None  # missing
    schema = FeatureSchema(fitted.preprocessor_)
    _same_inputs(schema, fitted, frame, _records(frame))
    records = json.loads(_records(frame))
    columns = {name: [record[name] for record in records] for name in frame.columns}
    _same_inputs(schema, fitted, frame, json.dumps(columns).encode())


rows = st.fixed_dictionaries(
    {
        "x1": st.none() | st.floats(-1e6, 1e6, allow_nan=False),
        "x2": st.none() | st.integers(-1000, 1000),
        "colour": st.none() | st.sampled_from(["red", "green", "blue", "mauve"]) | st.integers(),
        "flag": st.none() | st.booleans(),
        "day": st.none()
        | st.datetimes(datetime(1800, 1, 1), datetime(2200, 1, 1)).map(datetime.isoformat),
    }
)


@given(st.lists(rows, min_size=1, max_size=20))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_valid_rows_encode_like_the_preprocessor(fitted: Regressor, records: list) -> None:
    frame = pd.DataFrame.from_records(records, columns=["x1", "x2", "colour", "flag", "day"])
    frame["flag"] = frame["flag"].astype("object")
    _same_inputs(FeatureSchema(fitted.preprocessor_), fitted, frame, json.dumps(records).encode())


def test_missing_values_are_counted(fitted: Regressor) -> None:
    schema = FeatureSchema(fitted.preprocessor_)
    body = b'[{"x1": null, "x2": null, "colour": null, "flag": true, "day": null}]'
    assert schema.encode(schema.parse(body)).missing_values == 4


@pytest.mark.parametrize(
    "body",
    [
        b'[{"x1": "1.5", "x2": 1, "colour": "red", "flag": true, "day": null}]',
        b'[{"x1": 1, "x2": 1, "colour": "red", "flag": "maybe", "day": null}]',
        b'[{"x1": 1, "x2": 1, "colour": "red", "flag": true}]',
        b'[{"x1": NaN, "x2": 1, "colour": "red", "flag": true, "day": null}]',
        b'{"x1": [1]}',
        b"[1, 2]",
    ],
)
def test_bad_values_are_refused(fitted: Regressor, body: bytes) -> None:
    with pytest.raises(ValidationError):
        FeatureSchema(fitted.preprocessor_).parse(body)


def test_columns_of_unequal_length_are_refused(fitted: Regressor) -> None:
    body = b'{"x1": [1, 2], "x2": [1], "colour": ["a"], "flag": [true], "day": [null]}'
    with pytest.raises(DataError, match="one length"):
        FeatureSchema(fitted.preprocessor_).parse(body)


def test_out_of_range_values_are_data_errors(fitted: Regressor) -> None:
    schema = FeatureSchema(fitted.preprocessor_)
    huge = b'[{"x1": 1e300, "x2": 1, "colour": "red", "flag": true, "day": null}]'
    with pytest.raises(DataError, match="too large"):
        schema.encode(schema.parse(huge))
    # dates are counted in microseconds (issue 17): 1066 and 9999 are dates like any other
    for day in ("1066-10-14", "9999-12-31"):
        body = f'[{{"x1": 1, "x2": 1, "colour": "red", "flag": true, "day": "{day}"}}]'
        frame = pd.DataFrame({"x1": [1.0], "x2": [1.0], "colour": ["red"], "flag": [True]})
        _same_inputs(schema, fitted, frame.assign(day=[day]), body.encode())


def test_numeric_columns_around_a_date_land_in_their_places() -> None:
    from deepfit.data.preprocess import TabularPreprocessor
    from deepfit.data.schema import infer_schema

    frame = make_table(60, seed=4).drop(columns="y")[["x1", "day", "colour", "flag", "x2"]]
    prep = TabularPreprocessor(infer_schema(frame)).fit(frame)
    schema = FeatureSchema(prep)
    body = _records(frame)
    encoded = schema.encode(schema.parse(body)).features
    expected = prep.transform(pd.DataFrame.from_records(json.loads(body)))  # the same values
    np.testing.assert_array_equal(encoded.numeric, expected.numeric)
    np.testing.assert_array_equal(encoded.categorical, expected.categorical)
