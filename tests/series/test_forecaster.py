"""Forecaster end to end: fit, forecast from new history, intervals, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfit import Forecaster, load
from deepfit.errors import ArtifactError, ConfigError, DataError, NotFittedError
from deepfit.estimator.forecasting import auto_lookback, validation_steps
from deepfit.kinds.series.prepare import SeriesPreparer
from tests.support.series import FAST_FORECASTER, make_series

HORIZON = 6


@pytest.fixture(scope="module")
def panel_frame() -> pd.DataFrame:
    return make_series(400, series=3)


@pytest.fixture(scope="module")
def fitted(panel_frame: pd.DataFrame) -> Forecaster:
    train = panel_frame.groupby("id").head(360)
    return Forecaster(HORIZON, **FAST_FORECASTER).fit(
        train, target="load", time="timestamp", series="id", known=["temperature"]
    )


def future_rows(frame: pd.DataFrame, start: int, horizon: int = HORIZON) -> pd.DataFrame:
    rows = frame.groupby("id").nth(list(range(start, start + horizon)))
    return rows[["id", "timestamp", "temperature"]]


def mean_abs_error(forecast: pd.DataFrame, frame: pd.DataFrame, start: int) -> float:
    actual = frame.groupby("id").nth(list(range(start, start + HORIZON)))
    merged = forecast.merge(actual, on=["id", "timestamp"])
    assert len(merged) == len(forecast)
    return float(np.abs(merged["predicted_load"] - merged["load"]).mean())


def seasonal_naive_error(frame: pd.DataFrame, start: int) -> float:
    errors = []
    for _, rows in frame.groupby("id"):
        values = rows["load"].to_numpy()
        errors.append(
            np.abs(values[start : start + HORIZON] - values[start - 24 : start - 24 + HORIZON])
        )
    return float(np.mean(errors))


def test_forecast_has_one_row_per_series_and_step_after_each_history(
    fitted: Forecaster, panel_frame: pd.DataFrame
) -> None:
    history = panel_frame.groupby("id").head(360)
    forecast = fitted.predict(history, future_rows(panel_frame, 360))
    assert list(forecast.columns) == ["id", "timestamp", "predicted_load"]
    assert len(forecast) == 3 * HORIZON
    first = forecast.groupby("id")["timestamp"].min()
    assert (first == pd.Timestamp("2024-01-01") + pd.Timedelta(hours=360)).all()


def test_forecast_beats_the_seasonal_naive_on_newer_history(
    fitted: Forecaster, panel_frame: pd.DataFrame
) -> None:
    history = panel_frame.groupby("id").head(380)  # newer than anything it trained on
    forecast = fitted.predict(history, future_rows(panel_frame, 380))
    assert mean_abs_error(forecast, panel_frame, 380) < 0.7 * seasonal_naive_error(panel_frame, 380)


def test_a_series_never_seen_is_forecast_from_its_own_history(fitted: Forecaster) -> None:
    other = make_series(200, series=1, seed=7).assign(id="new")
    other["load"] += 100.0  # a level far from every training series
    forecast = fitted.predict(other.head(180), future_rows(other, 180))
    actual = other["load"].to_numpy()[180 : 180 + HORIZON]
    seasonal = other["load"].to_numpy()[156 : 156 + HORIZON]
    error = np.abs(forecast["predicted_load"].to_numpy() - actual).mean()
    assert error < np.abs(seasonal - actual).mean()


def test_intervals_widen_with_the_horizon_and_cover_about_their_level(
    fitted: Forecaster, panel_frame: pd.DataFrame
) -> None:
    hits, total = 0, 0
    for start in range(360, 394, HORIZON):
        history = panel_frame.groupby("id").head(start)
        forecast = fitted.predict(history, future_rows(panel_frame, start), interval=0.9)
        actual = panel_frame.groupby("id").nth(list(range(start, start + HORIZON)))
        merged = forecast.merge(actual, on=["id", "timestamp"])
        hits += int(
            (
                (merged["load"] >= merged["lower_load"]) & (merged["load"] <= merged["upper_load"])
            ).sum()
        )
        total += len(merged)
    assert 0.75 <= hits / total <= 1.0
    assert fitted.fit_ is not None
    assert fitted.fit_.conformal is not None
    widths = fitted.fit_.conformal.half_widths(0.9)
    assert len(widths) == HORIZON
    assert np.all(widths > 0)


def test_known_covariates_are_required_for_the_forecast_steps(
    fitted: Forecaster, panel_frame: pd.DataFrame
) -> None:
    history = panel_frame.groupby("id").head(360)
    with pytest.raises(DataError, match=r"temperature .* --future"):
        fitted.predict(history)


def test_history_shorter_than_the_lookback_is_an_error(
    fitted: Forecaster, panel_frame: pd.DataFrame
) -> None:
    with pytest.raises(DataError, match="series 's0' has 10 steps of history, fewer than the 24"):
        fitted.predict(panel_frame.groupby("id").head(10), future_rows(panel_frame, 10))


def test_saved_and_loaded_forecasts_are_bit_identical(
    fitted: Forecaster, panel_frame: pd.DataFrame, tmp_path: Path
) -> None:
    history = panel_frame.groupby("id").head(370)
    future = future_rows(panel_frame, 370)
    path = fitted.save(tmp_path / "load.deepfit")
    again = load(path)
    assert isinstance(again, Forecaster)
    pd.testing.assert_frame_equal(
        fitted.predict(history, future, interval=0.8), again.predict(history, future, interval=0.8)
    )
    with pytest.raises(FileExistsError):
        fitted.save(path)


def test_a_forecaster_file_is_refused_by_the_table_loader(
    fitted: Forecaster, tmp_path: Path
) -> None:
    from deepfit.artifact import load_model

    path = fitted.save(tmp_path / "f.deepfit")
    with pytest.raises(ArtifactError, match=r"load it with deepfit\.load"):
        load_model(path)


def test_same_seed_same_forecast_without_a_time_limit() -> None:
    frame = make_series(200)
    settings = {**FAST_FORECASTER, "max_epochs": 5}
    first, second = (
        Forecaster(HORIZON, **settings).fit(frame, target="load", time="timestamp").predict(frame)
        for _ in range(2)
    )
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"horizon": 0}, "horizon must be"),
        ({"model": "transformer"}, "model must be"),
        ({"lookback": -3}, "lookback must be"),
        ({"frequency": "often"}, "frequency must be"),
    ],
)
def test_bad_settings_are_one_line_errors(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Forecaster(**params).fit(make_series(100), target="load", time="timestamp")


def test_series_shorter_than_lookback_plus_horizon_is_an_error() -> None:
    with pytest.raises(DataError, match=r"fewer than lookback \+ horizon = 24 \+ 6"):
        Forecaster(HORIZON, **FAST_FORECASTER).fit(make_series(25), target="load", time="timestamp")


def test_an_unfitted_forecaster_says_so() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        Forecaster().predict(make_series(10))


def test_missing_steps_are_not_trained_on_and_forecasts_stay_finite() -> None:
    frame = make_series(300).drop(index=range(100, 140))
    forecaster = Forecaster(HORIZON, **{**FAST_FORECASTER, "max_epochs": 3})
    forecast = forecaster.fit(frame, target="load", time="timestamp").predict(frame)
    assert forecaster.fit_ is not None
    assert forecaster.fit_.summary["inserted_steps"] == 40
    assert np.isfinite(forecast["predicted_load"]).all()


def test_auto_lookback_and_validation_split() -> None:
    assert auto_lookback("30min", 48) == 336
    assert auto_lookback("h", 200) == 400  # at least twice the horizon
    assert validation_steps(np.array([1000, 12]), 6).tolist() == [100, 0]


def test_preparer_statistics_round_trip_and_refuse_bad_values() -> None:
    from deepfit.kinds.series.panel import SeriesColumns, read_panel

    panel = read_panel(make_series(50), SeriesColumns("load", "timestamp", known=("temperature",)))
    prep = SeriesPreparer(lookback=4, horizon=2).fit(panel, np.array([40]))
    again = SeriesPreparer.from_dict(prep.to_dict())
    np.testing.assert_array_equal(prep.transform(panel).values, again.transform(panel).values)
    broken = prep.to_dict() | {"scale": [0.0]}
    with pytest.raises(ValueError, match="positive"):
        SeriesPreparer.from_dict(broken)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "auto"])
def test_the_precision_of_the_training_steps_is_recorded(precision: str) -> None:
    settings = {**FAST_FORECASTER, "max_epochs": 1, "precision": precision}
    forecaster = Forecaster(HORIZON, **settings)
    forecaster.fit(make_series(200), target="load", time="timestamp")
    chosen = forecaster.check_fitted().summary["precision"]
    assert chosen in (("fp32", "bf16") if precision == "auto" else (precision,))


def test_an_unknown_precision_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="precision must be one of"):
        Forecaster(HORIZON, precision="fp16").fit(make_series(100), target="load", time="timestamp")
