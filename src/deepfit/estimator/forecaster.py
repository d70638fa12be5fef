"""``Forecaster``: the next ``horizon`` values of one series or a panel of them.

Example:
    >>> from deepfit import Forecaster
    >>> f = Forecaster(horizon=48).fit(frame, target="demand", time="timestamp",
    ...                                known=["temperature"])  # doctest: +SKIP
    >>> f.predict(history, future=future_rows, interval=0.9)  # doctest: +SKIP
    # timestamp, predicted_demand, lower_demand, upper_demand: 48 rows per series
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfit.errors import ConfigError, NotFittedError
from deepfit.estimator.forecasting import (
    ForecastFit,
    auto_lookback,
    fit_forecaster,
    forecast_arrays,
    scaled_forecast,
)
from deepfit.estimator.params import AUTO, check_params, defaults, params_for
from deepfit.evaluation.intervals import check_level
from deepfit.kinds.series.numeric_time import as_given
from deepfit.kinds.series.panel import Panel, SeriesColumns, read_panel
from deepfit.kinds.series.windows import window_spread
from deepfit.series_artifact import SavedForecast, load_forecast, save_forecast
from deepfit.training.callbacks import Callback

TASK = "forecasting"
AUTO_HIDDEN = {"mlp": 256}  # the recurrent and convolutional encoders cost far more per unit
SMALL_HIDDEN = 64
DEFAULTS = defaults(TASK)


class Forecaster:
    """A network that forecasts ``horizon`` steps from ``lookback`` steps of history.

    ``model`` is ``"auto"`` (the window MLP: by far the fastest on a CPU, and in
    ``benchmarks/forecast.py`` the best on long windows), ``"mlp"``, ``"lstm"``, ``"gru"`` or
    ``"tcn"``. ``lookback="auto"`` reads a week of sub-daily steps, eight weeks of days, a
    year of weeks or three of months. ``time_limit="auto"`` is 240 s; ``None`` trains until
    early stopping or ``max_epochs``, the setting for runs that must repeat exactly.
    """

    def __init__(
        self,
        horizon: int = 1,
        *,
        lookback: int | str = AUTO,
        model: str = AUTO,
        frequency: str | None = None,
        hidden: int | str = AUTO,
        layers: int = 2,
        dropout: float | str = AUTO,
        loss: str = "mae",
        learning_rate: float | str = AUTO,
        weight_decay: float | str = AUTO,
        batch_size: int | str = AUTO,
        max_epochs: int | str = AUTO,
        patience: int | str | None = AUTO,
        time_limit: float | str | None = AUTO,
        device: str = AUTO,
        precision: str = "auto",
        random_state: int | None = 0,
        verbose: int = 0,
    ) -> None:
        self.horizon = horizon
        self.lookback = lookback
        self.model = model
        self.frequency = frequency
        self.hidden = hidden
        self.layers = layers
        self.dropout = dropout
        self.loss = loss
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.time_limit = time_limit
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose
        self.fit_: ForecastFit | None = None

    def get_params(self) -> dict[str, Any]:
        """The parameters as given (``"auto"`` kept)."""
        return {name: getattr(self, name) for name in DEFAULTS}

    def fit(
        self,
        frame: pd.DataFrame,
        *,
        target: str,
        time: str,
        series: str | None = None,
        known: Sequence[str] = (),
        callbacks: Sequence[Callback] = (),
    ) -> Forecaster:
        """Train on ``frame`` (long format: a time column, an optional series id, the target,
        known-in-advance covariates ``known`` and past-only covariates: the other numeric
        columns)."""
        columns = SeriesColumns(target=target, time=time, series=series, known=tuple(known))
        panel = read_panel(frame, columns, frequency=self._settings()["frequency"])
        return self.fit_panel(panel, callbacks)

    def fit_panel(self, panel: Panel, callbacks: Sequence[Callback] = ()) -> Forecaster:
        """Train on a panel already checked by :func:`~deepfit.kinds.series.panel.read_panel`."""
        settings = self._settings()
        self.fit_ = fit_forecaster(panel, self._resolved(settings, panel), list(callbacks))
        return self

    def predict(
        self,
        history: pd.DataFrame,
        future: pd.DataFrame | None = None,
        *,
        interval: float | None = None,
    ) -> pd.DataFrame:
        """The ``horizon`` steps after the end of each series in ``history`` (which may be
        newer than the training data, or hold series never seen), with known covariates for
        those steps from ``future``; ``interval`` adds conformal bounds at that level."""
        fit = self.check_fitted()
        columns = fit.preparer.columns
        panel = read_panel(
            history,
            columns,
            frequency=fit.preparer.frequency,
            past_names=fit.preparer.past_names,
        )
        extended, arrays, origins = forecast_arrays(fit, panel, future)
        scaled = scaled_forecast(fit, arrays, origins)
        point = scaled * arrays.scale[:, None] + arrays.loc[:, None]
        unit = window_spread(arrays, origins, fit.preparer.lookback) * arrays.scale
        return self._frame(fit, panel, extended, point, unit, interval)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model to one ``.deepfit`` file (atomic; no pickle)."""
        return save_forecast(self.describe(), path, overwrite=overwrite)

    def describe(self) -> SavedForecast:
        """The fitted model as its file holds it."""
        fit = self.check_fitted()
        return SavedForecast(
            network=fit.network,
            preparer=fit.preparer,
            settings=fit.settings,
            params=self.get_params(),
            min_history=fit.min_history,
            conformal=fit.conformal,
            history=fit.history,
            training=fit.summary,
        )

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """A forecaster saved with :meth:`save`; its forecasts are bit-identical."""
        saved = load_forecast(path)
        known = {k: v for k, v in saved.params.items() if k in DEFAULTS}
        forecaster = cls(**known)
        forecaster.fit_ = ForecastFit(
            network=saved.network,
            preparer=saved.preparer,
            settings=saved.settings,
            min_history=saved.min_history,
            conformal=saved.conformal,
            history=saved.history,
            summary=saved.training,
        )
        return forecaster

    @property
    def settings_(self) -> dict[str, Any]:
        return self.check_fitted().settings

    def check_fitted(self) -> ForecastFit:
        """The fitted state; a NotFittedError before ``fit``."""
        if self.fit_ is None:
            raise NotFittedError("this Forecaster is not fitted yet; call fit(frame, ...) first")
        return self.fit_

    def _settings(self) -> dict[str, Any]:
        settings = self.get_params()
        check_params(settings, TASK)
        return settings

    def _resolved(self, settings: dict[str, Any], panel: Panel) -> dict[str, Any]:
        resolved = dict(settings)
        resolved["frequency"] = panel.frequency
        if resolved["lookback"] == AUTO:
            resolved["lookback"] = auto_lookback(panel.frequency, resolved["horizon"])
        if resolved["model"] == AUTO:
            resolved["model"] = params_for(TASK)["model"].fallback
        if resolved["hidden"] == AUTO:
            resolved["hidden"] = AUTO_HIDDEN.get(resolved["model"], SMALL_HIDDEN)
        for name, spec in params_for(TASK).items():
            if spec.auto and resolved[name] == AUTO:  # not device or precision: "auto" is theirs
                resolved[name] = spec.resolve_fallback(len(panel))  # about one window per step
        if resolved["random_state"] is None:
            resolved["random_state"] = int(np.random.SeedSequence().entropy % 2**31)  # type: ignore[operator]
        return resolved

    def _frame(
        self,
        fit: ForecastFit,
        panel: Panel,
        extended: Panel,
        point: np.ndarray,
        unit: np.ndarray,
        interval: float | None,
    ) -> pd.DataFrame:
        """The forecast rows; an interval is the point ± each step's conformal quantile of the
        held-out errors in ``unit``s (each window's deviation, in the target's units)."""
        columns, horizon = fit.preparer.columns, fit.preparer.horizon
        ahead = np.concatenate(
            [
                np.arange(extended.starts[i + 1] - horizon, extended.starts[i + 1])
                for i in range(len(panel.ids))
            ]
        )
        out: dict[str, Any] = {}
        if columns.series:
            out[columns.series] = np.repeat(panel.ids, horizon)
        out[columns.time] = as_given(extended.times[ahead], extended.time_format)
        out[f"predicted_{columns.target}"] = point.reshape(-1)
        if interval is not None:
            if fit.conformal is None:
                raise ConfigError(
                    "this forecaster has no interval calibration (its series were too short to "
                    "hold out a validation period); forecast without an interval"
                )
            half = fit.conformal.half_widths(check_level(interval))[None, :] * unit[:, None]
            out[f"lower_{columns.target}"] = (point - half).reshape(-1)
            out[f"upper_{columns.target}"] = (point + half).reshape(-1)
        return pd.DataFrame(out)
