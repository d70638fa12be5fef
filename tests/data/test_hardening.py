"""Messy data meets one-line errors or notes, never an unexpected error (issue 17)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfit import Regressor
from deepfit.data.io import read_table
from deepfit.data.preprocess import TabularPreprocessor
from deepfit.data.schema import infer_schema
from deepfit.data.stream import head, plan_memory, slices
from deepfit.errors import DataError, DeepfitWarning
from deepfit.serve.features import FeatureSchema
from deepfit.streamed import train_streamed

TINY = {"model": "mlp", "hidden_layers": (8,), "max_epochs": 2, "batch_size": 32}


def _frame(n_rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_rows)
    return pd.DataFrame({"x": x, "y": 2.0 * x + rng.normal(scale=0.1, size=n_rows)})


def _quiet_fit(X: pd.DataFrame, y: pd.Series) -> Regressor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeepfitWarning)
        return Regressor(**TINY, random_state=0).fit(X, y)


# 1. local times across a daylight-saving change ---------------------------------------------
DST = ["2021-03-27T12:00:00+01:00", "2021-03-28T12:00:00+02:00"]


def test_dates_with_mixed_utc_offsets_are_parsed_to_utc() -> None:
    frame = _frame()
    frame["when"] = [DST[i % 2] for i in range(len(frame))]
    schema = infer_schema(frame.drop(columns="y"))
    assert {c.name: c.role for c in schema.columns}["when"] == "datetime"
    model = _quiet_fit(frame.drop(columns="y"), frame["y"])
    prep = model.preprocessor_
    hours = prep.numeric_names.index("when.hour")
    prepared = prep.transform(frame.drop(columns="y").iloc[:2])
    assert prepared.numeric[:, hours].tolist() == [11.0, 10.0]  # both noon local, in UTC
    assert np.isfinite(model.predict(frame.drop(columns="y").iloc[:2])).all()
    # the server parses the same instants to the same inputs
    stamps = [datetime.fromisoformat(text) for text in DST]
    columns = {"x": [0.0, 0.0], "when": stamps}
    encoded = FeatureSchema(prep).encode(columns).features
    expected = prep.transform(pd.DataFrame({"x": [0.0, 0.0], "when": DST})).numeric
    np.testing.assert_array_equal(encoded.numeric, expected)


# 2. dates after 2262 -------------------------------------------------------------------------
def test_a_date_after_2262_trains_predicts_and_serves() -> None:
    frame = _frame()
    ends = pd.date_range("2020-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d")
    frame["end"] = list(ends[:-3]) + ["9999-12-31"] * 3
    model = _quiet_fit(frame.drop(columns="y"), frame["y"])
    rows = pd.DataFrame({"x": [0.5], "end": ["9999-12-31"]})
    assert np.isfinite(model.predict(rows)).all()
    prep = model.preprocessor_
    days = prep.transform(rows).numeric[0, prep.numeric_names.index("end.days_since_1970")]
    assert days == pytest.approx((pd.Timestamp("9999-12-31") - pd.Timestamp("1970-01-01")).days)
    encoded = FeatureSchema(prep).encode({"x": [0.5], "end": [datetime(9999, 12, 31)]})
    np.testing.assert_array_equal(encoded.features.numeric, prep.transform(rows).numeric)
    aware = datetime(9999, 12, 31, tzinfo=UTC)
    again = FeatureSchema(prep).encode({"x": [0.5], "end": [aware]})
    np.testing.assert_array_equal(again.features.numeric, prep.transform(rows).numeric)


def test_explanations_take_mixed_offsets_and_dates_after_2262() -> None:
    from deepfit.explain.dependence import partial_dependence
    from deepfit.explain.plots import _value_rank

    frame = _frame()
    stamps = ["2021-03-27T12:00:00+01:00", "2021-03-28T12:00:00+02:00", "9999-12-31T00:00:00Z"]
    frame["end"] = [stamps[i % 3] for i in range(len(frame))]
    model = _quiet_fit(frame.drop(columns="y"), frame["y"])
    curve = partial_dependence(model, frame.drop(columns="y"), ["end"])
    assert pd.Timestamp("9999-12-31") in set(curve["value"])
    ranks = _value_rank(frame["end"], "datetime")
    assert ranks is not None
    np.testing.assert_array_equal(ranks[:3].argsort(), [0, 1, 2])


# 3. numbers beyond float32 -------------------------------------------------------------------
def test_a_feature_beyond_float32_is_refused_at_fit_and_predict() -> None:
    frame = _frame()
    frame.loc[5, "x"] = 1e39
    with pytest.raises(DataError, match=r"column 'x' holds 1e\+39") as error:
        _quiet_fit(frame.drop(columns="y"), frame["y"])
    assert "\n" not in str(error.value)
    model = _quiet_fit(_frame().drop(columns="y"), _frame()["y"])
    with pytest.raises(DataError, match=r"column 'x' holds -1e\+39 in row 2"):
        model.predict(pd.DataFrame({"x": [1.0, -1e39]}))


def test_a_target_beyond_float32_is_refused() -> None:
    frame = _frame()
    frame.loc[3, "y"] = 1e39
    with pytest.raises(DataError, match=r"target 'y'.*1e\+39.*row 4"):
        _quiet_fit(frame.drop(columns="y"), frame["y"])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_streamed_file_with_a_value_beyond_float32_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    import deepfit.streamed

    # the schema from the first 100 rows, a sample of 20: row 251 is met in a slice
    monkeypatch.setattr(deepfit.streamed, "head", lambda path: head(path, 100))
    monkeypatch.setattr(deepfit.streamed, "SAMPLE_ROWS", 20)
    frame = _frame(300)
    frame.loc[250, "x"] = 3e39
    path = tmp_path / f"big{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, row_group_size=100)
    with pytest.raises(DataError, match=r"column 'x' holds 3e\+39"):
        train_streamed(plan_memory(path, budget=1), target="y", seed=0, **TINY)


# 4. duplicate column names -------------------------------------------------------------------
def test_a_csv_with_a_duplicated_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a,y\n1,2,3,4\n5,6,7,8\n")
    for read in (read_table, head):
        with pytest.raises(DataError, match="column 'a' appears 2 times") as error:
            read(path)
        assert "\n" not in str(error.value)


def test_a_dataframe_with_duplicated_columns_is_refused() -> None:
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(DataError, match="column 'a' appears 2 times"):
        read_table(frame)
    with pytest.raises(DataError, match="column 'x' appears 2 times"):
        Regressor(**TINY).fit(pd.concat([_frame()[["x"]]] * 2, axis=1), _frame()["y"])


# 5. text encodings ---------------------------------------------------------------------------
TEXT = "name,price\ncafé,1.5\nnaïve,2.5\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_a_csv_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "bom.csv"
    bom = {"utf-16-le": "\ufeff", "utf-16-be": "\ufeff"}.get(encoding, "")
    path.write_bytes((bom + TEXT).encode(encoding))
    expected = ["café", "naïve"]
    assert read_table(path)["name"].tolist() == expected
    assert read_table(path).columns.tolist() == ["name", "price"]
    assert head(path)["name"].tolist() == expected
    assert next(slices(path))["name"].tolist() == expected


def test_a_latin1_csv_needs_its_encoding_named(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(TEXT.encode("latin-1"))
    with pytest.raises(DataError, match="--encoding latin-1") as error:
        read_table(path)
    assert "\n" not in str(error.value)
    with pytest.raises(DataError, match="--encoding latin-1"):
        head(path)
    assert read_table(path, encoding="latin-1")["name"].tolist() == ["café", "naïve"]
    assert head(path, encoding="latin-1")["name"].tolist() == ["café", "naïve"]
    assert next(slices(path, encoding="latin-1"))["name"].tolist() == ["café", "naïve"]


# 6. id-like integers -------------------------------------------------------------------------
def test_distinct_integers_with_negative_values_are_not_id_like() -> None:
    frame = pd.DataFrame({"level": np.arange(-10, 20), "other": np.arange(30) % 3})
    roles = {c.name: c.role for c in infer_schema(frame).columns}
    assert roles["level"] == "numeric"
    counter = pd.DataFrame({"row": np.arange(0, 30), "other": np.arange(30) % 3})
    assert {c.name: c.role for c in infer_schema(counter).columns}["row"] == "drop"


# 7. a constant target ------------------------------------------------------------------------
def test_a_constant_target_is_a_warning() -> None:
    frame = _frame()
    with pytest.warns(DeepfitWarning, match=r"target 'y' is constant \(every value is 3.0\)"):
        Regressor(**TINY, random_state=0).fit(
            frame[["x"]], pd.Series(3.0, index=frame.index, name="y")
        )


# 8. a feature entirely missing at prediction -------------------------------------------------
def test_a_feature_missing_in_every_predicted_row_is_a_warning() -> None:
    frame = _frame()
    frame["z"] = np.linspace(0, 1, len(frame))
    frame["c"] = ["a", "b"] * (len(frame) // 2)
    model = _quiet_fit(frame.drop(columns="y"), frame["y"])
    rows = frame.drop(columns="y").iloc[:3].copy()
    rows["z"] = np.nan
    rows["c"] = None
    with pytest.warns(DeepfitWarning, match=r"'z', 'c'.*missing in every row") as caught:
        predictions = model.predict(rows)
    assert np.isfinite(predictions).all()
    assert len([w for w in caught if issubclass(w.category, DeepfitWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeepfitWarning)
        model.predict(frame.drop(columns="y").iloc[:3])


def test_a_preprocessor_reports_all_missing_columns() -> None:
    frame = _frame()
    prep = TabularPreprocessor(infer_schema(frame.drop(columns="y"))).fit(frame)
    assert prep.transform(pd.DataFrame({"x": [np.nan, np.nan]})).all_missing == ["x"]
    assert prep.transform(pd.DataFrame({"x": [np.nan, 1.0]})).all_missing == []
