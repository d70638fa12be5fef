"""Rolling-origin backtest: forecasts from several origins, scored beside baselines.

Origins are counted back from the end of each series: the last one forecasts the final
``horizon`` steps, and each earlier one is ``step`` steps before it. The network is trained
once on each series' data before its first origin (expanding window: later origins read the
history up to themselves, with the same weights); ``refit`` retrains at every origin. The
baselines (naive, seasonal naive, LightGBM on lags) forecast from the same origins, and every
metric comes per horizon step as well as overall.

Example:
    >>> result = backtest(Forecaster(horizon=48), frame, target="demand", time="timestamp",
    ...                   windows=28)  # doctest: +SKIP
    >>> result.metrics["deepfit"]["mae"], result.metrics["seasonal_naive"]["mae"]  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from deepfit.errors import ConfigError, DataError, DeepfitWarning
from deepfit.estimator.forecaster import Forecaster
from deepfit.estimator.forecasting import ForecastFit, scaled_forecast
from deepfit.evaluation.intervals import check_level
from deepfit.kinds.series.numeric_time import as_given
from deepfit.kinds.series.panel import Panel, SeriesColumns, read_panel
from deepfit.kinds.series.prepare import SeriesArrays
from deepfit.kinds.series.windows import series_origins, window_spread

MODEL = "deepfit"
MAX_BASELINE_WINDOWS = 20_000


@dataclass
class Backtest:
    """What a backtest measured: metrics per model, interval coverage, and every forecast."""

    metrics: dict[str, dict[str, Any]]
    forecasts: pd.DataFrame
    coverage: float | None = None
    interval: float | None = None
    season: int = 1
    training: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """One row per model: MAE, RMSE, sMAPE, MAPE and MASE over every origin and step."""
        names = ("mae", "rmse", "smape", "mape", "mase")
        return pd.DataFrame(
            {
                model: {name: values.get(name) for name in names}
                for model, values in self.metrics.items()
            }
        ).T


def backtest(
    forecaster: Forecaster,
    frame: pd.DataFrame,
    *,
    target: str,
    time: str,
    series: str | None = None,
    known: Sequence[str] = (),
    windows: int = 1,
    step: int | None = None,
    refit: bool = False,
    interval: float | None = 0.9,
    baselines: bool = True,
) -> Backtest:
    """Backtest ``forecaster`` (unfitted: it is trained here) on ``frame`` over ``windows``
    origins ``step`` steps apart (default: the horizon)."""
    horizon = int(forecaster.horizon)
    step = _check_windows(windows, horizon if step is None else step)
    level = None if interval is None else check_level(interval)
    columns = SeriesColumns(target=target, time=time, series=series, known=tuple(known))
    panel = read_panel(frame, columns, frequency=forecaster.frequency)
    origins = rolling_origins(panel, horizon, windows=windows, step=step)
    fits = _fits(forecaster, panel, origins, refit)
    return score_origins(fits, panel, origins, refit=refit, level=level, baselines=baselines)


def evaluate_forecaster(
    forecaster: Forecaster,
    frame: pd.DataFrame,
    *,
    windows: int = 1,
    step: int | None = None,
    interval: float | None = 0.9,
    baselines: bool = True,
) -> Backtest:
    """Score a fitted ``forecaster`` on labelled ``frame`` from ``windows`` origins at its end,
    without training it (the baselines learn from the steps before the first origin)."""
    fit = forecaster.check_fitted()
    horizon = fit.preparer.horizon
    step = _check_windows(windows, horizon if step is None else step)
    level = None if interval is None else check_level(interval)
    panel = read_panel(
        frame,
        fit.preparer.columns,
        frequency=fit.preparer.frequency,
        past_names=fit.preparer.past_names,
    )
    origins = rolling_origins(panel, horizon, windows=windows, step=step, fitted=True)
    return score_origins([fit], panel, origins, refit=False, level=level, baselines=baselines)


def rolling_origins(
    panel: Panel, horizon: int, *, windows: int, step: int, fitted: bool = False
) -> list[np.ndarray]:
    """Each origin's first forecast step in every series, counted back from its end."""
    step = _check_windows(windows, step)
    lengths = panel.lengths()
    first = lengths - horizon - (windows - 1) * step
    needed = 1 if fitted else horizon + 1
    if first.max() < needed:
        raise DataError(
            f"{windows} window(s) {step} steps apart with horizon {horizon} need more than "
            f"{(windows - 1) * step + horizon + needed - 1} steps in a series, but the longest "
            f"has {int(lengths.max())}; lower --windows or --step, or give more history"
        )
    first = np.maximum(first, 0)
    return [first + k * step for k in range(windows)]


def score_origins(
    fits: list[ForecastFit],
    panel: Panel,
    origins: list[np.ndarray],
    *,
    refit: bool,
    level: float | None,
    baselines: bool,
) -> Backtest:
    """Forecasts of ``fits`` (one, or one per origin with ``refit``) from ``origins``, scored
    beside the baselines on the same windows."""
    from deepfit.evaluation.forecast_metrics import forecast_metrics, mase_scale, season_length

    horizon = fits[0].preparer.horizon
    first = origins[0]
    season = season_length(panel.frequency)
    arrays = fits[0].preparer.transform(panel)
    history_scale = np.array(
        [
            mase_scale(panel.target[panel.starts[i] : panel.starts[i] + first[i]], season)
            for i in range(len(panel.ids))
        ]
    )
    rows, owners, predicted, actual, units = [], [], [], [], []
    for k, starts in enumerate(origins):
        fit = fits[k if refit else 0]
        data = fit.preparer.transform(panel) if refit else arrays
        usable = (starts >= fit.min_history) & (first > 0)
        at, owner = series_origins(
            data,
            fit.preparer.lookback,
            first=np.where(usable, starts, 1),
            last=np.where(usable, starts, 0),
        )
        scaled = scaled_forecast(fit, data, at)
        predicted.append(scaled * data.scale[owner, None] + data.loc[owner, None])
        units.append(window_spread(data, at, fit.preparer.lookback) * data.scale[owner])
        actual.append(_steps(panel, owner, starts[owner], horizon))
        rows.append(np.full(len(owner), k))
        owners.append(owner)
    owner, row = np.concatenate(owners), np.concatenate(rows)
    if len(owner) == 0:
        raise DataError(
            "no series has enough history before its first origin to forecast from; lower "
            "--windows or --step, or give more history"
        )
    forecasts = {MODEL: np.concatenate(predicted)}
    truth = np.concatenate(actual)
    if baselines:
        forecasts |= _baselines(fits[0], arrays, panel, owner, row, origins, season)
    scale = history_scale[owner]
    metrics = {name: forecast_metrics(truth, values, scale) for name, values in forecasts.items()}
    frame_out = _forecast_frame(panel, owner, row, origins, horizon, truth, forecasts)
    coverage = None
    widths = _half_widths(fits[0], level)
    if widths is None and fits[0].conformal is not None:
        level = None  # the level asked for could not be calibrated: no intervals were made
    if widths is not None:
        half = widths[None, :] * np.concatenate(units)[:, None]
        lower, upper = forecasts[MODEL] - half, forecasts[MODEL] + half
        frame_out["lower"], frame_out["upper"] = lower.reshape(-1), upper.reshape(-1)
        seen = np.isfinite(truth)
        coverage = float(((truth >= lower) & (truth <= upper))[seen].mean())
    return Backtest(
        metrics=metrics,
        forecasts=frame_out,
        coverage=coverage,
        interval=level,
        season=season,
        training=[fit.summary for fit in fits],
    )


def _half_widths(fit: ForecastFit, level: float | None) -> np.ndarray | None:
    """Each step's interval half-width at ``level`` in deviations, or None without one: no
    level asked, no calibration, or too few held-out windows for the level (a warning)."""
    if level is None or fit.conformal is None:
        return None
    try:
        return fit.conformal.half_widths(level)
    except ConfigError as error:
        warnings.warn(f"interval coverage not measured: {error}", DeepfitWarning, stacklevel=3)
        return None


def _check_windows(windows: int, step: int) -> int:
    if isinstance(windows, bool) or not isinstance(windows, int) or windows < 1:
        raise ConfigError(f"windows must be a positive whole number, however: {windows!r}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ConfigError(f"step must be a positive whole number, however: {step!r}")
    return step


def _fits(
    forecaster: Forecaster, panel: Panel, origins: list[np.ndarray], refit: bool
) -> list[ForecastFit]:
    fits = []
    for starts in origins if refit else origins[:1]:
        forecaster.fit_panel(panel.head(starts))
        assert forecaster.fit_ is not None
        fits.append(forecaster.fit_)
    return fits


def _steps(panel: Panel, owner: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    rows = panel.starts[owner][:, None] + starts[:, None] + np.arange(horizon)
    return panel.target[rows]


def _past(panel: Panel, owner: np.ndarray, starts: np.ndarray, lookback: int) -> np.ndarray:
    """``[windows, lookback]`` target values before each origin (NaN before a series began)."""
    offsets = starts[:, None] + np.arange(-lookback, 0)
    rows = panel.starts[owner][:, None] + offsets
    values = panel.target[np.clip(rows, 0, len(panel) - 1)]
    return np.where(offsets >= 0, values, np.nan)


def _baselines(
    fit: ForecastFit,
    arrays: SeriesArrays,
    panel: Panel,
    owner: np.ndarray,
    rows: np.ndarray,
    origins: list[np.ndarray],
    season: int,
) -> dict[str, np.ndarray]:
    from deepfit.evaluation.forecast_baselines import (
        LagLightGBM,
        naive_forecast,
        seasonal_naive_forecast,
    )

    horizon, lookback = fit.preparer.horizon, fit.preparer.lookback
    starts = np.array([origins[k][i] for k, i in zip(rows, owner, strict=True)])
    reach = max(lookback, season * ((horizon - 1) // season + 1)) if season > 1 else lookback
    past = _past(panel, owner, starts, reach)
    results = {
        "naive": naive_forecast(past, horizon),
        "seasonal_naive": seasonal_naive_forecast(past, horizon, season),
    }
    train_first = np.full(len(panel.ids), fit.min_history)
    train_last = origins[0] - horizon
    at, train_owner = series_origins(arrays, lookback, first=train_first, last=train_last)
    if len(at) > MAX_BASELINE_WINDOWS:
        at = at[-MAX_BASELINE_WINDOWS:]
        train_owner = train_owner[-MAX_BASELINE_WINDOWS:]
    if len(at) >= 10:
        model = LagLightGBM(seed=0).fit(
            _scaled_past(arrays, at, lookback),
            _known(arrays, at, horizon),
            _scaled_target(arrays, at, horizon),
            season=season,
        )
        test_at = arrays.starts[owner] + lookback + starts
        guess = model.predict(
            _scaled_past(arrays, test_at, lookback), _known(arrays, test_at, horizon)
        )
        results["lightgbm_lags"] = guess * arrays.scale[owner, None] + arrays.loc[owner, None]
    return results


def _scaled_past(arrays: SeriesArrays, at: np.ndarray, lookback: int) -> np.ndarray:
    rows = at[:, None] + np.arange(-lookback, 0)
    values, observed = arrays.values[rows, 0], arrays.values[rows, 1]
    return np.where(observed > 0, values, np.nan).astype(np.float64)


def _known(arrays: SeriesArrays, at: np.ndarray, horizon: int) -> np.ndarray | None:
    if arrays.future.shape[1] == 0:
        return None
    return arrays.future[at[:, None] + np.arange(horizon)].astype(np.float64)


def _scaled_target(arrays: SeriesArrays, at: np.ndarray, horizon: int) -> np.ndarray:
    return arrays.target[at[:, None] + np.arange(horizon)].astype(np.float64)


def _forecast_frame(
    panel: Panel,
    owner: np.ndarray,
    rows: np.ndarray,
    origins: list[np.ndarray],
    horizon: int,
    truth: np.ndarray,
    forecasts: dict[str, np.ndarray],
) -> pd.DataFrame:
    starts = np.array([origins[k][i] for k, i in zip(rows, owner, strict=True)])
    at = panel.starts[owner][:, None] + starts[:, None] + np.arange(horizon)
    columns = panel.columns
    out: dict[str, Any] = {}
    if columns.series:
        out[columns.series] = np.repeat(np.asarray(panel.ids)[owner], horizon)
    times = as_given(panel.times, panel.time_format)
    out["origin"] = np.repeat(times[panel.starts[owner] + starts - 1], horizon)
    out[columns.time] = times[at.reshape(-1)]
    out["step"] = np.tile(np.arange(1, horizon + 1), len(owner))
    out[columns.target] = truth.reshape(-1)
    for name, values in forecasts.items():
        out[f"predicted_{name}"] = values.reshape(-1)
    return pd.DataFrame(out)
