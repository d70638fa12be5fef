"""Fit and apply a forecaster: split by time, scale, cut windows, train, calibrate, forecast.

The last part of each series' history (:func:`validation_steps`) stops training early and
calibrates the intervals; nothing shuffles across time. Every window's lookback reads only
steps before its origin, and the known covariates of its horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepfit.device import resolve_device
from deepfit.errors import DataError
from deepfit.evaluation.forecast_intervals import StepConformal
from deepfit.kinds.series.calendar import step_seconds
from deepfit.kinds.series.future import extend
from deepfit.kinds.series.panel import Panel
from deepfit.kinds.series.prepare import SeriesArrays, SeriesPreparer
from deepfit.kinds.series.windows import WindowSource, scored, series_origins, window_spread
from deepfit.models.sequence import SequenceShape, build_sequence_network
from deepfit.training.callbacks import Callback, stopping_callbacks
from deepfit.training.loop import TrainConfig, predict, train

HOUR, DAY = 3600.0, 86_400.0
VALIDATION_SHARE = 0.1
MAX_VALIDATION_WINDOWS = 2_000
UNSEEN_SHARE = 0.05  # of training windows shown as a series never seen (for new series)


@dataclass
class ForecastFit:
    """What fitting a forecaster learns."""

    network: nn.Module
    preparer: SeriesPreparer
    settings: dict[str, Any]
    min_history: int
    conformal: StepConformal | None
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def auto_lookback(frequency: str, horizon: int) -> int:
    """A week of sub-daily steps, eight weeks of days, a year of weeks, three of months...,
    and never less than twice the horizon.

    Example:
        >>> auto_lookback("30min", 48), auto_lookback("D", 14), auto_lookback("YS", 6)
        (336, 56, 12)
    """
    step = step_seconds(frequency)
    if step < DAY:
        steps = round(7 * DAY / step)
    elif step < 7 * DAY:
        steps = round(56 * DAY / step)
    elif step < 28 * DAY:
        steps = 52
    elif step < 365 * DAY:
        steps = 36
    else:
        steps = 12
    return int(max(steps, 2 * horizon))


def validation_steps(lengths: np.ndarray, horizon: int) -> np.ndarray:
    """How many final steps of each series are held out: a tenth, at least one horizon, and
    none where that would leave no training window."""
    held = np.maximum(horizon, (VALIDATION_SHARE * lengths).astype(int))
    return np.where(lengths - held >= horizon + 1, held, 0)


def fit_forecaster(
    panel: Panel, settings: dict[str, Any], callbacks: list[Callback] | None = None
) -> ForecastFit:
    """Train a network on ``panel`` as ``settings`` say (resolved: no "auto" left but model)."""
    horizon, lookback = int(settings["horizon"]), int(settings["lookback"])
    lengths = panel.lengths()
    if lengths.max() < lookback + horizon:
        longest = panel.ids[int(lengths.argmax())]
        raise DataError(
            f"series {longest!r} has {int(lengths.max())} steps, fewer than lookback + horizon "
            f"= {lookback} + {horizon}; give a longer history or a smaller --lookback"
        )
    held = validation_steps(lengths, horizon)
    train_ends = lengths - held
    min_history = int(min(lookback, max(1, int(train_ends.min()) - horizon)))
    preparer = SeriesPreparer(lookback=lookback, horizon=horizon).fit(panel, train_ends)
    arrays = preparer.transform(panel)
    train_origins, train_owners = _usable(
        arrays,
        horizon,
        lookback,
        first=np.full(len(lengths), min_history),
        last=train_ends - horizon,
    )
    if len(train_origins) == 0:
        raise DataError(
            f"no series is long enough for one training window of lookback {lookback} and "
            f"horizon {horizon}; give longer series or lower --lookback and --horizon"
        )
    val_origins, val_owners = _usable(
        arrays, horizon, lookback, first=train_ends, last=np.where(held > 0, lengths - horizon, -1)
    )
    val_origins, val_owners = _thin(val_origins, val_owners, MAX_VALIDATION_WINDOWS)
    device = resolve_device(str(settings["device"]))
    torch.manual_seed(int(settings["random_state"]))
    network = build_sequence_network(
        str(settings["model"]),
        SequenceShape(
            lookback=lookback,
            horizon=horizon,
            past_channels=arrays.values.shape[1],
            known_channels=arrays.future.shape[1],
            n_series=preparer.n_series,
        ),
        hidden=int(settings["hidden"]),
        layers=int(settings["layers"]),
        dropout=float(settings["dropout"]),
    ).to(device)
    with_series = preparer.n_series > 1

    def source(origins: np.ndarray, owners: np.ndarray, unseen: float = 0.0) -> WindowSource:
        return WindowSource(
            arrays,
            origins,
            lookback=lookback,
            horizon=horizon,
            owners=owners,
            with_series=with_series,
            unseen_share=unseen,
            device=device,
        )

    train_source = source(train_origins, train_owners, UNSEEN_SHARE)
    val_source = source(val_origins, val_owners) if len(val_origins) else None
    state = train(
        network,
        train_source,
        val_source,
        TrainConfig(
            loss=str(settings["loss"]),
            learning_rate=float(settings["learning_rate"]),
            weight_decay=float(settings["weight_decay"]),
            schedule="plateau",
            batch_size=int(settings["batch_size"]),
            max_epochs=int(settings["max_epochs"]),
            seed=int(settings["random_state"]),
            skip_missing_target=True,
            precision=str(settings["precision"]),
        ),
        [
            *stopping_callbacks(
                patience=settings["patience"],
                time_limit=settings["time_limit"],
                verbose=int(settings["verbose"]),
                has_validation=val_source is not None,
            ),
            *(callbacks or []),
        ],
    )
    conformal, validation = None, None
    if val_source is not None:
        raw = predict(network, val_source).cpu().numpy().astype(np.float64)
        truth = arrays.target[val_origins[:, None] + np.arange(horizon)].astype(np.float64)
        spread = window_spread(arrays, val_origins, lookback)[:, None]
        conformal = StepConformal.from_scores(np.abs(truth - raw) / spread)
        validation = validation_metrics(panel, arrays, val_origins, val_owners, raw, train_ends)
    summary = {
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "best_validation_loss": state.best_validation_loss,
        "stop_reason": state.stop_reason,
        "seconds": round(state.seconds, 3),
        "train_windows": len(train_source),
        "validation_windows": 0 if val_source is None else len(val_source),
        "series": len(panel.ids),
        "inserted_steps": int(panel.inserted),
        "ignored_columns": list(panel.ignored),
        "device": str(device),
        "precision": state.precision,
        "validation_metrics": validation,
    }
    history = state.records()
    return ForecastFit(network.eval(), preparer, settings, min_history, conformal, history, summary)


def validation_metrics(
    panel: Panel,
    arrays: SeriesArrays,
    origins: np.ndarray,
    owners: np.ndarray,
    scaled: np.ndarray,
    train_ends: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """The network's errors on the validation windows, in the target's units, beside the
    naive and seasonal naive forecasts from the same origins."""
    from deepfit.evaluation.forecast_baselines import naive_forecast, seasonal_naive_forecast
    from deepfit.evaluation.forecast_metrics import forecast_metrics, mase_scale, season_length

    horizon = scaled.shape[1]
    loc, scale = arrays.loc[owners, None], arrays.scale[owners, None]
    truth = arrays.target[origins[:, None] + np.arange(horizon)] * scale + loc
    season = season_length(panel.frequency)
    reach = max(season * ((horizon - 1) // season + 1), 1)
    rows = origins[:, None] + np.arange(-reach, 0)
    observed = arrays.values[rows, 1] > 0
    past = np.where(observed, arrays.values[rows, 0] * scale + loc, np.nan)
    mase = np.array(
        [
            mase_scale(panel.target[panel.starts[i] : panel.starts[i] + train_ends[i]], season)
            for i in range(len(panel.ids))
        ]
    )[owners]
    forecasts = {
        "deepfit": scaled * scale + loc,
        "naive": naive_forecast(past, horizon),
        "seasonal_naive": seasonal_naive_forecast(past, horizon, season),
    }
    return {name: forecast_metrics(truth, values, mase) for name, values in forecasts.items()}


def forecast_arrays(
    fit: ForecastFit, panel: Panel, future: pd.DataFrame | None
) -> tuple[Panel, SeriesArrays, np.ndarray]:
    """The panel extended by the horizon, its arrays, and the origin of each series' forecast."""
    lengths = panel.lengths()
    short = np.flatnonzero(lengths < fit.min_history)
    if len(short):
        name = panel.ids[int(short[0])]
        raise DataError(
            f"series {name!r} has {int(lengths[short[0]])} steps of history, fewer than the "
            f"{fit.min_history} the model reads; give at least {fit.min_history} steps"
        )
    horizon = fit.preparer.horizon
    extended = extend(panel, horizon, future)
    arrays = fit.preparer.transform(extended)
    origins = arrays.starts[:-1] + fit.preparer.lookback + lengths
    return extended, arrays, origins


def scaled_forecast(fit: ForecastFit, arrays: SeriesArrays, origins: np.ndarray) -> np.ndarray:
    """``[origins, horizon]`` forecasts in scaled units (before each series' loc and scale)."""
    device = next(iter(fit.network.parameters())).device
    source = WindowSource(
        arrays,
        origins,
        lookback=fit.preparer.lookback,
        horizon=fit.preparer.horizon,
        with_target=False,
        with_series=fit.preparer.n_series > 1,
        device=device,
    )
    return predict(fit.network, source).cpu().numpy().astype(np.float64)


def _usable(
    arrays: SeriesArrays, horizon: int, lookback: int, *, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    origins, owners = series_origins(arrays, lookback, first=first, last=last)
    keep = scored(arrays, origins, horizon)
    return origins[keep], owners[keep]


def _thin(origins: np.ndarray, owners: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    if len(origins) <= limit:
        return origins, owners
    picked = np.round(np.linspace(0, len(origins) - 1, limit)).astype(int)
    return origins[picked], owners[picked]
