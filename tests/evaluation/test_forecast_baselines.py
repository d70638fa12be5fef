"""Forecast baselines: naive, seasonal naive and LightGBM on lags, each from the past alone."""

import numpy as np
import pytest

from deepfit.evaluation.forecast_baselines import naive_forecast, seasonal_naive_forecast

NAN = float("nan")
PAST = np.array(
    [
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        [1.0, NAN, 3.0, 4.0, NAN, 6.0],
        [1.0, 2.0, 3.0, 4.0, 5.0, NAN],
        [NAN, NAN, NAN, NAN, NAN, NAN],
    ]
)


def test_naive_repeats_the_last_observed_value():
    expected = np.array([[6.0, 6.0, 6.0], [6.0, 6.0, 6.0], [5.0, 5.0, 5.0], [NAN, NAN, NAN]])
    np.testing.assert_array_equal(naive_forecast(PAST, 3), expected)


def test_seasonal_naive_repeats_the_last_season_and_fills_gaps_with_the_naive_value():
    expected = np.array(
        [
            [4.0, 5.0, 6.0, 4.0, 5.0],
            [4.0, 6.0, 6.0, 4.0, 6.0],
            [4.0, 5.0, 5.0, 4.0, 5.0],
            [NAN, NAN, NAN, NAN, NAN],
        ]
    )
    np.testing.assert_array_equal(seasonal_naive_forecast(PAST, 5, 3), expected)


@pytest.mark.parametrize("season", [0, 1, 7])
def test_seasonal_naive_without_a_usable_season_is_naive(season):
    np.testing.assert_array_equal(seasonal_naive_forecast(PAST, 4, season), naive_forecast(PAST, 4))


def test_seasonal_naive_with_a_season_as_long_as_the_window_repeats_the_window():
    np.testing.assert_array_equal(seasonal_naive_forecast(PAST[:1], 7, 6), [[1, 2, 3, 4, 5, 6, 1]])
