"""Time columns written as numbers: years, counts of steps, R's decimal years."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepfit import Forecaster, load
from deepfit.errors import DataError
from deepfit.estimator.backtest import backtest
from deepfit.kinds.series.numeric_time import as_given, numeric_form, numeric_times
from deepfit.kinds.series.panel import parse_times
from tests.support.series import FAST_FORECASTER


def r_monthly(start_year: int, months: int) -> pd.Series:
    """``time(ts)`` of a monthly R series as write.csv writes it (15 significant digits)."""
    return pd.Series([float(f"{start_year + m / 12:.15g}") for m in range(months)])


@pytest.mark.parametrize(
    ("values", "form", "first", "second"),
    [
        (r_monthly(1949, 3), "decimal years/12", "1949-01-01", "1949-02-01"),
        (pd.Series([1960.0, 1960.25, 1960.5]), "decimal years/4", "1960-01-01", "1960-04-01"),
        (pd.Series([1871, 1872, 1873]), "steps", "1871-01-01", "1872-01-01"),
        (pd.Series([-2, -1, 0]), "steps+3", "0001-01-01", "0002-01-01"),
        (pd.Series([20_000, 20_001, 20_002]), "steps-19999", "0001-01-01", "0002-01-01"),
        (pd.Series([20240131, 20240201, 20240205]), "digits %Y%m%d", "2024-01-31", "2024-02-01"),
        (pd.Series([202311, 202312, 202401]), "digits %Y%m", "2023-11-01", "2023-12-01"),
        (pd.Series([20240130, 20240132, 20240133]), "steps-20240129", "0001-01-01", "0003-01-01"),
    ],
)
def test_each_form_is_read_as_timestamps_and_written_back_as_it_came(
    values: pd.Series, form: str, first: str, second: str
) -> None:
    assert numeric_form(values, "t") == form
    times = numeric_times(values, "t", form)
    assert [str(t.date()) for t in times[:2]] == [first, second]
    np.testing.assert_allclose(as_given(times, form), values.to_numpy(dtype=float), atol=1e-9)


def test_a_time_off_the_history_form_is_an_error_naming_it() -> None:
    with pytest.raises(DataError, match=r"holds 1961\.1, which is not a step of 1/12 year"):
        numeric_times(pd.Series([1961.1]), "t", "decimal years/12")
    with pytest.raises(DataError, match=r"holds 3\.5, which is not a step"):
        numeric_times(pd.Series([3.5]), "t", "steps")
    with pytest.raises(DataError, match=r"holds 2.02402e\+07, which is not a date written as"):
        numeric_times(pd.Series([20240230]), "t", "digits %Y%m%d")  # 30 February
    with pytest.raises(DataError, match=r"holds 'soon', which is not a number as the history"):
        parse_times(pd.Series(["1961", "soon"]), "t", "steps")
    assert [t.year for t in parse_times(pd.Series(["1961", "1962"]), "t", "steps")] == [1961, 1962]


def seasonal(times: pd.Series, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    month = np.arange(len(times)) % 12
    level = 100 + 20 * np.sin(2 * np.pi * month / 12) + rng.normal(0, 1, len(times))
    return pd.DataFrame({"time": times, "value": level})


@pytest.mark.parametrize(
    "times", [r_monthly(1949, 144), pd.Series(np.arange(1, 145))], ids=["decimal", "steps"]
)
def test_a_forecaster_on_numeric_times_answers_in_numbers_and_after_loading_the_same(
    times: pd.Series, tmp_path
) -> None:
    frame = seasonal(times)
    params = FAST_FORECASTER | {"max_epochs": 5}
    forecaster = Forecaster(6, **params).fit(frame.head(120), target="value", time="time")
    forecast = forecaster.predict(frame.head(130))
    assert pd.api.types.is_numeric_dtype(forecast["time"])
    np.testing.assert_allclose(forecast["time"], times[130:136].to_numpy(dtype=float), atol=1e-9)
    again = load(forecaster.save(tmp_path / "m.deepfit"))
    pd.testing.assert_frame_equal(again.predict(frame.head(130)), forecast)


def test_a_backtest_with_too_few_held_out_windows_for_its_interval_scores_without_one() -> None:
    frame = seasonal(r_monthly(1949, 60))
    params = FAST_FORECASTER | {"lookback": 12, "max_epochs": 3}
    with pytest.warns(UserWarning, match="interval coverage not measured: a 0.9 forecast"):
        result = backtest(
            Forecaster(6, **params), frame, target="value", time="time", windows=2, interval=0.9
        )
    assert result.coverage is None
    assert result.interval is None
    origins = result.forecasts["origin"].unique()
    np.testing.assert_allclose(origins, [1952 + 11 / 12, 1953 + 5 / 12], atol=1e-9)
