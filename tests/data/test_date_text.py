"""Dates written as spreadsheets write them: the format is found on the training rows, kept
with the model and used for every later row."""

import json

import numpy as np
import pandas as pd
import pytest

from deepfit import Regressor
from deepfit.data.date_text import find_date_format, parse_dates
from deepfit.data.preprocess import TabularPreprocessor
from deepfit.data.schema import infer_schema
from deepfit.errors import ArtifactError, DataError
from deepfit.export.feed import onnx_feed


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2024-01-31", "2024-02-01T13:30:00+01:00"], "ISO8601"),
        (["01/31/2024", "02/01/2024"], "%m/%d/%Y"),
        (["02/01/2024", "13/01/2024"], "%d/%m/%Y"),  # 13 cannot be a month
        (["1/31/24", "12/1/24"], "%m/%d/%y"),  # two digits are a year of this century
        (["31.01.2024", "01.02.2024"], "%d.%m.%Y"),
        (["1/31/2024 3:45 PM", "2/1/2024 11:00 AM"], "%m/%d/%Y %I:%M %p"),
        (["Jan 31, 2024", "Feb 1, 2024"], "%b %d, %Y"),
        (["red", "blue"], None),
        (["AB-123456", "AB-123457"], None),
        (["1/31/2024", "2024-31-01"], None),
    ],
)
def test_the_format_that_reads_every_value(values, expected):
    assert find_date_format(pd.Series(values)) == expected


def test_a_month_first_column_is_not_read_day_first():
    stamps = parse_dates(pd.Series(["03/04/2024"]), "%m/%d/%Y")
    assert (stamps.dt.month.tolist(), stamps.dt.day.tolist()) == ([3], [4])


def shop_days(n: int = 60) -> pd.DatetimeIndex:
    return pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) * 5, unit="D")


def test_a_us_date_column_gives_the_same_features_as_iso_dates():
    days = shop_days()
    frame = pd.DataFrame({"ordered": days.strftime("%m/%d/%Y"), "x": np.arange(60.0)})
    schema = infer_schema(frame)
    assert schema.names("datetime") == ["ordered"]
    prep = TabularPreprocessor(schema).fit(frame)
    assert prep.date_formats == {"ordered": "%m/%d/%Y"}
    as_written = prep.transform(frame).numeric
    as_iso = prep.transform(frame.assign(ordered=days.strftime("%Y-%m-%d"))).numeric
    np.testing.assert_array_equal(as_written, as_iso)


def test_a_date_not_in_the_training_format_is_named_with_an_example():
    frame = pd.DataFrame({"ordered": shop_days().strftime("%d.%m.%Y"), "x": np.arange(60.0)})
    prep = TabularPreprocessor(infer_schema(frame)).fit(frame)
    bad = frame.head(2).assign(ordered=["31.01.2024", "01/31/2024"])
    with pytest.raises(DataError, match=r"'01/31/2024' in row 2 .* such as 31\.01\.2024"):
        prep.transform(bad)


def test_the_format_is_saved_with_the_preprocessor_and_checked_when_read():
    frame = pd.DataFrame({"ordered": shop_days().strftime("%m/%d/%Y"), "x": np.arange(60.0)})
    saved = TabularPreprocessor(infer_schema(frame)).fit(frame).to_dict()
    loaded = TabularPreprocessor.from_dict(json.loads(json.dumps(saved)))
    assert loaded.date_formats == {"ordered": "%m/%d/%Y"}
    with pytest.raises(ValueError, match="unknown date format"):
        TabularPreprocessor.from_dict({**saved, "date_formats": {"ordered": "%s; rm"}})
    older = {key: value for key, value in saved.items() if key != "date_formats"}
    assert TabularPreprocessor.from_dict(older).date_formats == {}  # read as ISO dates


def test_an_onnx_feed_with_an_unknown_date_format_is_refused():
    metadata = {"deepfit_inputs": json.dumps([{"name": "d", "role": "datetime", "format": "%Q"}])}
    with pytest.raises(ArtifactError, match="malformed"):
        onnx_feed(metadata, pd.DataFrame({"d": ["2024-01-31"]}))


def test_an_onnx_feed_reads_dates_in_the_models_format():
    days = shop_days()
    frame = pd.DataFrame({"ordered": days.strftime("%d/%m/%Y"), "x": np.arange(60.0)})
    model = Regressor(model="mlp", max_epochs=1, random_state=0).fit(frame, np.arange(60.0))
    as_written = onnx_feed(model, frame.head(5))["ordered"]
    as_iso = onnx_feed(model, frame.head(5).assign(ordered=days[:5].strftime("%Y-%m-%d")))
    np.testing.assert_array_equal(as_written, as_iso["ordered"])
