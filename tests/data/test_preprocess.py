"""TabularPreprocessor: statistics from training rows only; clear errors on bad rows."""

import json

import numpy as np
import pandas as pd
import pytest

from deepfit.data.preprocess import TabularPreprocessor, check_columns
from deepfit.data.schema import infer_schema
from deepfit.errors import DataError


def fitted_on(frame, *, roles=None, target=None, min_category_count=2):
    schema = infer_schema(frame, roles=roles, target=target)
    return TabularPreprocessor(schema, min_category_count=min_category_count).fit(frame)


def column(prep, features, name):
    return features.numeric[:, prep.numeric_names.index(name)]


def test_shared_table_shapes(table):
    prep = fitted_on(table, target="y")
    features = prep.transform(table)
    assert len(features) == 400
    assert features.numeric.dtype == np.float32
    assert features.categorical.dtype == np.int64
    assert prep.numeric_names[:3] == ["x1", "x2", "flag"]
    assert all(name.startswith("day.") for name in prep.numeric_names[3:])
    assert features.categorical.shape == (400, 1)
    assert prep.cardinalities == [4]  # blue, green, red + unknown
    assert features.unseen_categories == 0


def test_statistics_come_from_training_rows_only():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "c": ["a", "b", "a", "b", "a"]})
    other = pd.DataFrame({"x": [100.0, 200.0, 300.0], "c": ["a", "a", "a"]})
    prep = fitted_on(train)
    assert prep.medians == [3.0]
    np.testing.assert_array_equal(prep.transform(other).numeric[:, 0], [100.0, 200.0, 300.0])
    assert prep.missing_in_training == [False]


def test_missing_numbers_stay_missing_and_are_flagged():
    train = pd.DataFrame({"x": [1.0, np.nan, 3.0, 5.0], "z": [1.0, 2.0, 3.0, 4.0]})
    prep = fitted_on(train)
    assert prep.missing_in_training == [True, False]
    assert prep.medians == [3.0, 2.5]
    features = prep.transform(pd.DataFrame({"x": [np.nan, 2.0], "z": [np.nan, 1.0]}))
    assert np.isnan(features.numeric[0]).all()
    np.testing.assert_array_equal(features.numeric[1], [2.0, 1.0])


def test_robust_scale_is_iqr_over_1_349():
    train = pd.DataFrame({"x": np.arange(9.0), "z": np.arange(9.0) ** 2})
    prep = fitted_on(train)
    # np.arange(9): quartiles 2 and 6
    assert prep.scales[0] == pytest.approx(4.0 / 1.349)
    assert prep.medians[0] == 4.0


def test_constant_training_column_gets_scale_one():
    train = pd.DataFrame({"same": [5.0, 5.0, 5.0], "x": [1.0, 2.0, 3.0]})
    prep = fitted_on(train, roles={"same": "numeric"})
    assert prep.scales[0] == 1.0


def test_rare_categories_map_to_unknown():
    train = pd.DataFrame({"c": ["a", "a", "b", "b", "b", "rare"], "x": np.arange(6.0)})
    prep = fitted_on(train, min_category_count=2)
    assert prep.vocabularies["c"] == ["a", "b"]
    codes = prep.transform(train).categorical[:, 0]
    np.testing.assert_array_equal(codes, [1, 1, 2, 2, 2, 0])


def test_min_category_count_one_keeps_every_category():
    train = pd.DataFrame({"c": ["a", "a", "b", "rare"], "x": np.arange(4.0)})
    prep = fitted_on(train, min_category_count=1)
    assert prep.vocabularies["c"] == ["a", "b", "rare"]
    assert prep.cardinalities == [4]


def test_unseen_category_is_unknown_and_counted():
    train = pd.DataFrame({"c": ["a", "a", "b", "b"], "x": np.arange(4.0)})
    prep = fitted_on(train)
    features = prep.transform(pd.DataFrame({"c": ["b", "new", "other", "a"], "x": np.zeros(4)}))
    np.testing.assert_array_equal(features.categorical[:, 0], [2, 0, 0, 1])
    assert features.unseen_categories == 2


def test_missing_category_value_has_its_own_code():
    train = pd.DataFrame({"c": ["a", None, "a", None, "b", "b"], "x": np.arange(6.0)})
    prep = fitted_on(train)
    assert len(prep.vocabularies["c"]) == 3
    codes = prep.transform(pd.DataFrame({"c": [None, "a"], "x": [0.0, 0.0]})).categorical[:, 0]
    assert codes[0] not in (0, codes[1])
    assert codes[1] == prep.vocabularies["c"].index("a") + 1


def test_missing_category_value_unseen_in_training_is_unknown():
    train = pd.DataFrame({"c": ["a", "a", "b", "b"], "x": np.arange(4.0)})
    prep = fitted_on(train)
    features = prep.transform(pd.DataFrame({"c": [np.nan, "b"], "x": [0.0, 0.0]}))
    np.testing.assert_array_equal(features.categorical[:, 0], [0, 2])


def test_integer_categories_match_their_float_and_text_forms():
    train = pd.DataFrame({"code": [3, 3, 7, 7], "x": np.arange(4.0)})
    prep = fitted_on(train, roles={"code": "categorical"})
    features = prep.transform(pd.DataFrame({"code": [3.0, "7", 9], "x": [0.0] * 3}))
    np.testing.assert_array_equal(features.categorical[:, 0], [1, 2, 0])


def test_boolean_text_becomes_zero_and_one():
    train = pd.DataFrame({"ok": ["yes", "no", "Yes", None, " NO "], "x": np.arange(5.0)})
    prep = fitted_on(train)
    assert prep.schema.names("boolean") == ["ok"]
    values = column(prep, prep.transform(train), "ok")
    np.testing.assert_array_equal(values, [1.0, 0.0, 1.0, np.nan, 0.0])


def test_boolean_column_with_other_text_at_transform():
    train = pd.DataFrame({"ok": ["yes", "no", "yes"], "x": np.arange(3.0)})
    prep = fitted_on(train)
    with pytest.raises(DataError, match=r"column 'ok'.*'maybe' in row 2"):
        prep.transform(pd.DataFrame({"ok": ["no", "maybe"], "x": [0.0, 1.0]}))


def test_date_parts_without_times():
    train = pd.DataFrame({"d": ["2024-01-31", "2024-03-02", "1970-01-11"], "x": [1.0, 2, 3]})
    prep = fitted_on(train)
    assert prep.date_parts["d"] == [
        "year",
        "month",
        "day",
        "day_of_week",
        "day_of_year",
        "days_since_1970",
    ]
    features = prep.transform(train)
    np.testing.assert_array_equal(column(prep, features, "d.year"), [2024, 2024, 1970])
    np.testing.assert_array_equal(column(prep, features, "d.month"), [1, 3, 1])
    np.testing.assert_array_equal(column(prep, features, "d.day"), [31, 2, 11])
    np.testing.assert_array_equal(column(prep, features, "d.day_of_week"), [2, 5, 6])
    np.testing.assert_array_equal(column(prep, features, "d.day_of_year"), [31, 62, 11])
    assert column(prep, features, "d.days_since_1970")[2] == 10.0


def test_hour_part_only_when_times_are_not_midnight():
    stamps = pd.to_datetime(["2024-01-01 08:00", "2024-01-02 17:30", "2024-01-03 00:00"])
    train = pd.DataFrame({"d": stamps, "x": [1.0, 2.0, 3.0]})
    prep = fitted_on(train)
    assert "hour" in prep.date_parts["d"]
    np.testing.assert_array_equal(column(prep, prep.transform(train), "d.hour"), [8, 17, 0])


def test_missing_dates_give_missing_parts():
    train = pd.DataFrame({"d": ["2024-01-01", None, "2024-05-01"], "x": [1.0, 2.0, 3.0]})
    prep = fitted_on(train)
    features = prep.transform(train)
    assert np.isnan(column(prep, features, "d.year")[1])
    assert np.isnan(column(prep, features, "d.days_since_1970")[1])
    assert prep.missing_in_training[prep.numeric_names.index("d.month")]


def test_bad_date_at_transform():
    train = pd.DataFrame({"d": ["2024-01-01", "2024-02-01", "2024-05-01"], "x": [1.0, 2, 3]})
    prep = fitted_on(train)
    with pytest.raises(DataError, match=r"column 'd'.*'soon' in row 1"):
        prep.transform(pd.DataFrame({"d": ["soon"], "x": [1.0]}))


def test_text_in_numeric_column_at_transform(table):
    prep = fitted_on(table, target="y")
    rows = table.head(3).copy()
    rows["x1"] = ["1.5", "abc", " 2 "]
    with pytest.raises(DataError, match=r"column 'x1'.*'abc' in row 2"):
        prep.transform(rows)


def test_numbers_as_text_at_transform_are_parsed(table):
    prep = fitted_on(table, target="y")
    rows = table.head(3).copy()
    rows["x1"] = ["1.5", "", " 2 "]
    values = column(prep, prep.transform(rows), "x1")
    np.testing.assert_array_equal(values, [1.5, np.nan, 2.0])


def test_infinite_value_is_refused(table):
    prep = fitted_on(table, target="y")
    rows = table.head(3).copy()
    rows.loc[rows.index[1], "x2"] = np.inf
    with pytest.raises(DataError, match=r"column 'x2' holds infinite values.*row 2"):
        prep.transform(rows)


def test_infinite_value_in_training_is_refused():
    train = pd.DataFrame({"x": [1.0, -np.inf, 3.0], "z": [1.0, 2.0, 3.0]})
    schema = infer_schema(train)
    with pytest.raises(DataError, match="column 'x' holds infinite"):
        TabularPreprocessor(schema).fit(train)


def test_missing_feature_column_is_named(table):
    prep = fitted_on(table, target="y")
    with pytest.raises(DataError, match=r"'colour'.*'day'"):
        prep.transform(table.drop(columns=["colour", "day"]))


def test_check_columns_counts_beyond_ten():
    frame = pd.DataFrame({"a": [1]})
    expected = [f"c{i}" for i in range(12)]
    with pytest.raises(DataError, match="and 2 more"):
        check_columns(frame, expected)
    check_columns(frame, ["a"])


def test_extra_columns_are_ignored(table):
    prep = fitted_on(table, target="y")
    plain = prep.transform(table)
    extra = prep.transform(table.assign(unused="z", y=0.0)[["unused", *table.columns]])
    np.testing.assert_array_equal(plain.numeric, extra.numeric)
    np.testing.assert_array_equal(plain.categorical, extra.categorical)


def test_target_is_not_a_feature(table):
    prep = fitted_on(table, target="y")
    assert "y" not in prep.numeric_names
    prep.transform(table.drop(columns="y"))


def test_to_dict_from_dict_round_trip_through_json(table):
    train = table.iloc[:300]
    prep = fitted_on(train, target="y")
    restored = TabularPreprocessor.from_dict(json.loads(json.dumps(prep.to_dict())))
    new_rows = table.iloc[300:].copy()
    new_rows.loc[new_rows.index[0], "colour"] = "purple"
    before, after = prep.transform(new_rows), restored.transform(new_rows)
    np.testing.assert_array_equal(before.numeric, after.numeric)
    np.testing.assert_array_equal(before.categorical, after.categorical)
    assert before.unseen_categories == after.unseen_categories == 1
    assert restored.medians == prep.medians
    assert restored.scales == prep.scales
    assert restored.date_parts == prep.date_parts


def test_from_dict_refuses_mismatched_statistics(table):
    data = fitted_on(table, target="y").to_dict()
    data["medians"] = data["medians"][:-1]
    with pytest.raises(ValueError, match="do not match"):
        TabularPreprocessor.from_dict(data)


def test_a_duration_is_numeric_in_seconds():
    seconds = np.arange(30.0) * 90
    frame = pd.DataFrame({"wait": pd.to_timedelta(seconds, unit="s"), "x": np.sin(seconds)})
    schema = infer_schema(frame)
    assert schema.names("numeric") == ["wait", "x"]
    prep = TabularPreprocessor(schema).fit(frame)
    as_durations = prep.transform(frame.head(3)).numeric
    as_seconds = prep.transform(frame.head(3).assign(wait=seconds[:3])).numeric
    np.testing.assert_array_equal(as_durations, as_seconds)
    assert len(np.unique(as_durations[:, 0])) == 3


def test_complex_numbers_are_refused_by_name():
    frame = pd.DataFrame({"z": np.arange(30.0) + 1j, "x": np.arange(30.0)})
    with pytest.raises(DataError, match="column 'z' holds complex numbers"):
        TabularPreprocessor(infer_schema(frame)).fit(frame)
