"""Forecast baselines: naive, seasonal naive and LightGBM on lags, each from the past alone."""

import numpy as np
import pytest

from deepfit.evaluation.forecast_baselines import (
    LagLightGBM,
    naive_forecast,
    seasonal_naive_forecast,
)

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


LOOKBACK, HORIZON, SEASON = 36, 6, 12


def _windows(n_windows=560, seed=0):
    """Seasonal windows whose target moves with a known temperature as much as with the season."""
    rng = np.random.default_rng(seed)
    n_steps = n_windows + LOOKBACK + HORIZON - 1
    temperature = np.zeros(n_steps)
    for t in range(1, n_steps):
        temperature[t] = 0.7 * temperature[t - 1] + rng.normal()
    phase = 2 * np.pi * np.arange(n_steps) / SEASON
    y = 3 * np.sin(phase) + 2 * temperature + rng.normal(0, 0.2, n_steps)
    known = np.column_stack([np.sin(phase), np.cos(phase), temperature])
    starts = np.arange(n_windows)[:, None]
    past = y[starts + np.arange(LOOKBACK)]
    ahead = starts + LOOKBACK + np.arange(HORIZON)
    return past, known[ahead], y[ahead]


def _split(n_train=460):
    past, known, target = _windows()
    train = (past[:n_train], known[:n_train], target[:n_train])
    test = (past[n_train + HORIZON :], known[n_train + HORIZON :], target[n_train + HORIZON :])
    return train, test


def test_lag_lightgbm_uses_known_features_to_beat_seasonal_naive():
    (past, known, target), (test_past, test_known, test_target) = _split()
    model = LagLightGBM(seed=0).fit(past, known, target, season=SEASON)
    forecast = model.predict(test_past, test_known)
    assert forecast.shape == test_target.shape
    seasonal = seasonal_naive_forecast(test_past, HORIZON, SEASON)
    model_error = np.mean(np.abs(forecast - test_target))
    assert model_error < 0.3 * np.mean(np.abs(seasonal - test_target))


def test_lag_lightgbm_is_reproducible_for_a_seed():
    (past, known, target), (test_past, test_known, _) = _split()
    first = LagLightGBM(seed=3).fit(past, known, target, season=SEASON)
    second = LagLightGBM(seed=3).fit(past, known, target, season=SEASON)
    np.testing.assert_array_equal(
        first.predict(test_past, test_known), second.predict(test_past, test_known)
    )


def test_lag_lightgbm_tolerates_missing_values_and_falls_back_for_an_unobserved_step():
    (past, known, target), (test_past, test_known, _) = _split()
    rng = np.random.default_rng(1)
    past = np.where(rng.random(past.shape) < 0.1, NAN, past)
    target = np.where(rng.random(target.shape) < 0.3, NAN, target)
    target[:, -1] = NAN
    model = LagLightGBM(seed=0, n_lags=4).fit(past, known, target, season=SEASON)
    test_past[0, -3:] = NAN
    forecast = model.predict(test_past, test_known)
    assert np.isfinite(forecast).all()
    seasonal = seasonal_naive_forecast(test_past, HORIZON, SEASON)
    np.testing.assert_array_equal(forecast[:, -1], seasonal[:, -1])


def test_lag_lightgbm_within_a_tiny_time_limit_still_forecasts():
    (past, known, target), (test_past, test_known, _) = _split()
    model = LagLightGBM(time_limit=1e-6).fit(past, known, target, season=SEASON)
    assert all(step_model.booster_.num_trees() <= 2 for step_model in model.models_)
    assert np.isfinite(model.predict(test_past, test_known)).all()


def test_lag_lightgbm_without_known_features_or_season_forecasts_the_right_shape():
    (past, _, target), (test_past, _, _) = _split()
    model = LagLightGBM().fit(past, None, target)
    assert model.predict(test_past, None).shape == (len(test_past), HORIZON)


def test_lag_lightgbm_rejects_inputs_unlike_those_it_was_fit_on():
    (past, known, target), (test_past, test_known, _) = _split(n_train=100)
    model = LagLightGBM(n_lags=2).fit(past, known, target, season=SEASON)
    with pytest.raises(ValueError, match="future_known"):
        model.predict(test_past, None)
    with pytest.raises(ValueError, match="future_known"):
        model.predict(test_past, test_known[:, :, :2])
    with pytest.raises(ValueError, match="steps seen in fit"):
        model.predict(test_past[:, 1:], test_known)
    with pytest.raises(ValueError, match="target"):
        LagLightGBM().fit(past, known, target[:-1])
    with pytest.raises(ValueError, match="n_lags"):
        LagLightGBM(n_lags=0)
