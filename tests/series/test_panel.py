"""Reading a series frame: sorting, gaps, duplicates, time zones, frequency, covariates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepfit.errors import ConfigError, DataError
from deepfit.kinds.series.calendar import calendar_features, calendar_names
from deepfit.kinds.series.future import extend
from deepfit.kinds.series.panel import SeriesColumns, read_panel
from tests.support.series import make_series

COLUMNS = SeriesColumns(target="load", time="timestamp", known=("temperature",))


def test_unsorted_rows_are_sorted_and_covariates_split_into_known_and_past() -> None:
    frame = make_series(48).sample(frac=1.0, random_state=0)
    panel = read_panel(frame, COLUMNS)
    assert panel.frequency == "h"
    assert panel.times.is_monotonic_increasing
    assert panel.past_names == ["sensor"]
    ordered = make_series(48)
    np.testing.assert_allclose(panel.target, ordered["load"])
    np.testing.assert_allclose(panel.known[:, 0], ordered["temperature"])


def test_missing_steps_are_inserted_with_a_missing_target_and_counted() -> None:
    frame = make_series(48).drop(index=[5, 6, 20])
    panel = read_panel(frame, COLUMNS)
    assert len(panel) == 48
    assert panel.inserted == 3
    assert np.isnan(panel.target[[5, 6, 20]]).all()
    assert np.isfinite(np.delete(panel.target, [5, 6, 20])).all()


def test_a_duplicate_timestamp_is_an_error_naming_it() -> None:
    frame = make_series(10)
    frame = pd.concat([frame, frame.iloc[[3]]])
    with pytest.raises(DataError, match="2024-01-01 03:00:00 appears more than once"):
        read_panel(frame, COLUMNS)


def test_duplicates_in_different_series_are_fine_but_not_within_one() -> None:
    frame = make_series(10, series=2)
    assert len(read_panel(frame, SeriesColumns("load", "timestamp", series="id")).ids) == 2
    doubled = pd.concat([frame, frame.iloc[[12]]])
    with pytest.raises(DataError, match="in series 's1'"):
        read_panel(doubled, SeriesColumns("load", "timestamp", series="id"))


def test_local_times_across_a_daylight_saving_change_become_utc() -> None:
    stamps = pd.date_range("2024-03-31 00:00", periods=6, freq="h", tz="Europe/Berlin")
    frame = pd.DataFrame({"t": [s.isoformat() for s in stamps], "y": np.arange(6.0)})
    panel = read_panel(frame, SeriesColumns(target="y", time="t"))
    assert str(panel.times.tz) == "UTC"
    assert panel.frequency == "h"
    assert panel.inserted == 0


def test_a_time_column_that_does_not_parse_names_the_bad_value() -> None:
    frame = pd.DataFrame({"t": ["2024-01-01", "not a date", "2024-01-03"], "y": [1, 2, 3]})
    with pytest.raises(DataError, match="'not a date'"):
        read_panel(frame, SeriesColumns(target="y", time="t"))


def test_whole_numbers_as_time_are_yearly_steps_without_calendar_features() -> None:
    frame = pd.DataFrame({"t": [1871, 1872, 1874], "y": [1.0, 2.0, 4.0]})
    panel = read_panel(frame, SeriesColumns(target="y", time="t"))
    assert panel.frequency.startswith("YS")
    assert (panel.inserted, panel.time_format) == (1, "steps")
    assert [t.year for t in panel.times] == [1871, 1872, 1873, 1874]
    counted = read_panel(pd.DataFrame({"t": [0, 1, 2], "y": [1.0, 2, 3]}), SeriesColumns("y", "t"))
    assert counted.time_format == "steps+1"  # a count from 0: year 0 does not exist
    assert [t.year for t in counted.times] == [1, 2, 3]


def test_dates_written_as_digits_are_dates_with_their_own_frequency_and_calendar() -> None:
    days = pd.date_range("2024-01-01", periods=40, freq="D")
    frame = pd.DataFrame({"t": days.strftime("%Y%m%d").astype(int), "y": np.arange(40.0)})
    panel = read_panel(frame, SeriesColumns(target="y", time="t"))
    assert (panel.frequency, panel.time_format) == ("D", "digits %Y%m%d")
    assert panel.times[0] == pd.Timestamp("2024-01-01")


def test_unreadable_numbers_as_time_are_one_line_errors() -> None:
    columns = SeriesColumns(target="y", time="t")
    for times, message in [
        ([1.7e9, 1.7e9 + 60, 1.7e9 + 120], "too large to be years or counts of steps"),
        ([1.0, 1.3, 1.7], "neither whole steps nor months or quarters of a year"),
        ([1.0, np.nan, 3.0], "empty at row 2"),
        ([0, 5_000, 9_500], "more than the 8,998 that numbered steps may span"),
    ]:
        with pytest.raises(DataError, match=message):
            read_panel(pd.DataFrame({"t": times, "y": [1.0, 2.0, 3.0]}), columns)


def test_irregular_steps_without_a_frequency_are_an_error_that_asks_for_one() -> None:
    times = pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-04", "2024-01-09"])
    times = times.append(pd.DatetimeIndex(["2024-01-09 05:00"]))
    frame = pd.DataFrame({"t": times, "y": np.arange(5.0)})
    with pytest.raises(DataError, match="pass --frequency"):
        read_panel(frame, SeriesColumns(target="y", time="t"))


def test_a_given_frequency_is_used_and_a_bad_one_refused() -> None:
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=3, freq="D"), "y": [1, 2, 3]})
    assert read_panel(frame, SeriesColumns("y", "t"), frequency="12h").inserted == 2
    with pytest.raises(ConfigError, match="not a pandas frequency"):
        read_panel(frame, SeriesColumns("y", "t"), frequency="fortnightly-ish")


def test_a_step_off_the_grid_is_named() -> None:
    times = ["2024-01-01", "2024-01-02", "2024-01-02 07:00", "2024-01-03"]  # mixed formats
    frame = pd.DataFrame({"t": times, "y": np.arange(4.0)})
    with pytest.raises(DataError, match=r"2024-01-02 07:00:00 .* off the D grid"):
        read_panel(frame, SeriesColumns("y", "t"), frequency="D")


def test_missing_columns_and_text_targets_are_one_line_errors() -> None:
    frame = make_series(10)
    with pytest.raises(DataError, match="'nope' not found"):
        read_panel(frame, SeriesColumns("nope", "timestamp"))
    frame["load"] = frame["load"].astype(object)
    frame.loc[3, "load"] = "n/a"
    with pytest.raises(DataError, match="'load' must be numeric"):
        read_panel(frame, SeriesColumns("load", "timestamp"))


def test_calendar_features_follow_the_frequency() -> None:
    assert calendar_names("30min")[:2] == ["day_sin", "day_cos"]
    assert calendar_names("D") == ["week_sin", "week_cos", "year_sin", "year_cos"]
    assert calendar_names("MS") == ["year_sin", "year_cos"]
    times = pd.date_range("2024-01-01", periods=48, freq="h")
    features = calendar_features(times, "h")
    np.testing.assert_allclose(features[0, :2], features[24, :2], atol=1e-9)  # same hour
    assert not np.allclose(features[0, 2:4], features[24, 2:4])  # another day of the week
    np.testing.assert_allclose(features[0, :2], [0.0, 1.0], atol=1e-12)


def test_extend_adds_the_horizon_with_known_covariates_from_future_rows() -> None:
    frame = make_series(30)
    panel = read_panel(frame.iloc[:24], COLUMNS)
    future = frame.iloc[24:27][["timestamp", "temperature"]]
    extended = extend(panel, 3, future)
    assert len(extended) == 27
    np.testing.assert_allclose(extended.known[-3:, 0], frame["temperature"].iloc[24:27])
    assert np.isnan(extended.target[-3:]).all()


def test_extend_names_missing_known_covariates_and_rows_that_do_not_follow() -> None:
    frame = make_series(30)
    panel = read_panel(frame.iloc[:24], COLUMNS)
    with pytest.raises(DataError, match=r"temperature at the 3 steps .* --future"):
        extend(panel, 3, None)
    with pytest.raises(DataError, match="lack temperature at 2024-01-02 02:00:00"):
        extend(panel, 3, frame.iloc[24:26][["timestamp", "temperature"]])
    with pytest.raises(DataError, match="does not follow the history"):
        extend(panel, 3, frame.iloc[24:28][["timestamp", "temperature"]])


def test_day_first_text_times_are_read_in_one_format_and_the_future_in_the_historys() -> None:
    frame = make_series(40, frequency="D")
    stamps = frame["timestamp"]
    frame["timestamp"] = stamps.dt.strftime("%d/%m/%Y")  # 02/01/2024 is the 2nd of January
    panel = read_panel(frame.iloc[:36], COLUMNS)
    assert panel.time_format == "%d/%m/%Y"
    assert panel.frequency == "D"
    assert panel.inserted == 0
    assert list(panel.times) == list(stamps.iloc[:36])
    future = frame.iloc[36:39][["timestamp", "temperature"]]  # 06/02 to 08/02: day-first still
    extended = extend(panel, 3, future)
    assert list(extended.times[-3:]) == list(stamps.iloc[36:39])
    np.testing.assert_allclose(extended.known[-3:, 0], frame["temperature"].iloc[36:39])
