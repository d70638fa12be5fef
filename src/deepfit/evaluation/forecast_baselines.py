"""Reference forecasters over windows, so a user sees whether the network earns its keep.

**Shape:** ``past`` is ``[n_windows, L]``, the target over each window's lookback (NaN where
missing); ``future_known`` is ``[n_windows, H, K]``, the known-in-advance features at each step
ahead; forecasts are ``[n_windows, H]`` in the target's own units.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


def naive_forecast(past: np.ndarray, horizon: int) -> np.ndarray:
    """Each window's last observed value, repeated ``horizon`` times (NaN when it has none).

    Example:
        >>> naive_forecast(np.array([[1.0, 2.0, np.nan]]), 2)
        array([[2., 2.]])
    """
    past = _checked_past(past)
    observed = np.isfinite(past)
    last = past.shape[1] - 1 - np.argmax(observed[:, ::-1], axis=1)
    value = np.where(observed.any(axis=1), past[np.arange(len(past)), last], np.nan)
    return np.repeat(value[:, None], horizon, axis=1)


def seasonal_naive_forecast(past: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The window's last season repeated over the horizon; a missing value there falls back to
    the naive forecast, and so does a season longer than the window or of 1 step.

    Example:
        >>> seasonal_naive_forecast(np.array([[1.0, 2.0, 3.0, np.nan]]), 5, 2)
        array([[3., 3., 3., 3., 3.]])
        >>> seasonal_naive_forecast(np.array([[1.0, 2.0, 3.0, 4.0]]), 3, 2)
        array([[3., 4., 3.]])
    """
    past = _checked_past(past)
    naive = naive_forecast(past, horizon)
    length = past.shape[1]
    if season <= 1 or season > length:
        return naive
    repeated = past[:, length - season + np.arange(horizon) % season]
    return np.where(np.isfinite(repeated), repeated, naive)


def _checked_past(past: np.ndarray) -> np.ndarray:
    past = np.asarray(past, dtype=np.float64)
    if past.ndim != 2 or past.shape[1] == 0:
        raise ValueError(f"past must be [n_windows, L] with L >= 1, however: shape {past.shape}")
    return past


# Recent lags: 16 forecast as well as 2 * season + 4 (96 at season 48), in a third of the time.
DEFAULT_LAGS = 16
# Step-aligned seasonal lags further back than this many seasons add columns, not accuracy.
MAX_SEASONAL_LAGS = 8
# The latest values less the same values one season before: how the window departs from it.
ANOMALY_LAGS = 4
VALIDATION_FRACTION = 0.1
MIN_VALIDATION_ROWS = 20
EARLY_STOPPING_ROUNDS = 20
ROUNDS_WITHOUT_VALIDATION = 100
# Two single-threaded models at a time rather than two OpenMP threads on one: the threads
# spin-wait on each other, 3.5x slower in all on a busy two-core machine.
PARALLEL_MODELS = 2
LIGHTGBM_PARAMETERS: dict[str, Any] = {
    "n_estimators": 1000,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_child_samples": 50,
    "colsample_bytree": 0.8,
    "max_bin": 63,
    "n_jobs": 1,
    "deterministic": True,
    "force_col_wise": True,
    "verbose": -1,
}


class LagLightGBM:
    """LightGBM on lag and calendar features, direct multi-horizon.

    One model per step ahead. Each sees a summary of the window (its last ``n_lags`` values,
    the anomaly of its latest values against one season before, the mean and spread of its
    last season and of all of it), the window's values at the target step's phase in each
    earlier season and their mean, and the known features at the target step: nothing else
    from the future. Each model stops early on the last 10% of its windows, so ``fit`` expects
    them in time order. ``time_limit`` (seconds) is shared out evenly among the step models.

    Example:
        >>> t = np.arange(400.0)
        >>> past = np.stack([np.sin(t[i : i + 24]) for i in range(300)])
        >>> target = np.stack([np.sin(t[i + 24 : i + 27]) for i in range(300)])
        >>> LagLightGBM().fit(past, None, target, season=6).predict(past[:2], None).shape
        (2, 3)
    """

    def __init__(
        self, *, seed: int = 0, n_lags: int | None = None, time_limit: float | None = None
    ) -> None:
        if n_lags is not None and n_lags < 1:
            raise ValueError(f"n_lags must be a positive integer or None, however: {n_lags=}")
        self.seed = seed
        self.n_lags = n_lags
        self.time_limit = time_limit

    def fit(
        self,
        past: np.ndarray,
        future_known: np.ndarray | None,
        target: np.ndarray,
        *,
        season: int = 1,
    ) -> LagLightGBM:
        """Fit one model per step ahead; a NaN target leaves its window out of that step."""
        past = _checked_past(past)
        target = np.asarray(target, dtype=np.float64)
        if target.ndim != 2 or len(target) != len(past):
            raise ValueError(
                f"target must be [n_windows, H] with {len(past)} windows, however: {target.shape}"
            )
        self.season_ = max(int(season), 1)
        self.lookback_ = past.shape[1]
        self.n_lags_ = min(self.n_lags or DEFAULT_LAGS, self.lookback_)
        self.horizon_ = target.shape[1]
        self.n_known_ = 0 if future_known is None else np.shape(future_known)[-1]
        known = self._checked_known(future_known, len(past))
        window = self._window_features(past)
        budget = None
        if self.time_limit is not None:
            budget = self.time_limit * PARALLEL_MODELS / max(self.horizon_, 1)

        def fit_step(step: int) -> Any:
            features = self._step_features(window, past, known, step)
            return self._fit_step(features, target[:, step], budget)

        with ThreadPoolExecutor(PARALLEL_MODELS) as pool:
            self.models_ = list(pool.map(fit_step, range(self.horizon_)))
        return self

    def predict(self, past: np.ndarray, future_known: np.ndarray | None) -> np.ndarray:
        """Forecasts ``[n_windows, H]`` in the target's units."""
        past = _checked_past(past)
        if past.shape[1] != self.lookback_:
            raise ValueError(
                f"past must have the {self.lookback_} steps seen in fit, however: {past.shape[1]}"
            )
        known = self._checked_known(future_known, len(past))
        window = self._window_features(past)
        fallback = seasonal_naive_forecast(past, self.horizon_, self.season_)
        forecast = np.empty((len(past), self.horizon_))
        for step, model in enumerate(self.models_):
            if model is None:
                forecast[:, step] = fallback[:, step]
            else:
                features = self._step_features(window, past, known, step)
                forecast[:, step] = model.predict(features)
        return forecast

    def _checked_known(self, future_known: np.ndarray | None, n_windows: int) -> np.ndarray:
        expected = (n_windows, self.horizon_, self.n_known_)
        if future_known is None:
            if self.n_known_:
                raise ValueError(f"future_known must be {expected} as in fit, however: None")
            return np.empty(expected)
        known = np.asarray(future_known, dtype=np.float64)
        if known.shape != expected:
            raise ValueError(f"future_known must be {expected}, however: {known.shape}")
        return known

    def _window_features(self, past: np.ndarray) -> np.ndarray:
        length = past.shape[1]
        last_season = past[:, -min(max(self.season_, 2), length) :]
        columns = [
            past[:, -self.n_lags_ :],
            *_mean_and_spread(last_season),
            *_mean_and_spread(past),
        ]
        if 1 < self.season_ < length:
            count = min(ANOMALY_LAGS, length - self.season_)
            columns.append(
                past[:, length - count :] - past[:, length - count - self.season_ : -self.season_]
            )
        return np.hstack(columns)

    def _step_features(
        self, window: np.ndarray, past: np.ndarray, known: np.ndarray, step: int
    ) -> np.ndarray:
        columns = [window]
        seasons = min(past.shape[1] // self.season_, MAX_SEASONAL_LAGS)
        if self.season_ > 1 and seasons:
            # The target step sits season * k steps after these, k = 1, 2, ... from the nearest.
            nearest = -(-(step + 1) // self.season_)
            positions = past.shape[1] + step - self.season_ * np.arange(nearest, nearest + seasons)
            inside = positions >= 0
            aligned = np.full((len(past), seasons), np.nan)
            aligned[:, inside] = past[:, positions[inside]]
            columns += [aligned, _mean_and_spread(aligned)[0]]
        columns.append(known[:, step])
        return np.hstack(columns).astype(np.float32)

    def _fit_step(self, features: np.ndarray, target: np.ndarray, budget: float | None) -> Any:
        import lightgbm

        observed = np.flatnonzero(np.isfinite(target))
        if len(observed) == 0:
            return None
        n_validation = int(len(observed) * VALIDATION_FRACTION)
        model = lightgbm.LGBMRegressor(random_state=self.seed, **LIGHTGBM_PARAMETERS)
        callbacks = [] if budget is None else [_stop_after(budget)]
        if n_validation < MIN_VALIDATION_ROWS:
            model.set_params(n_estimators=ROUNDS_WITHOUT_VALIDATION)
            model.fit(features[observed], target[observed], callbacks=callbacks)
            return model
        train, validation = observed[:-n_validation], observed[-n_validation:]
        callbacks.append(lightgbm.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False))
        model.fit(
            features[train],
            target[train],
            eval_X=(features[validation],),
            eval_y=(target[validation],),
            callbacks=callbacks,
        )
        return model


def _mean_and_spread(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each row's numbers, as columns; NaN for a row with none.

    Computed by hand: ``np.nanmean`` warns on such a row, and silencing warnings is not safe
    in the threads that fit the step models.
    """
    observed = np.isfinite(values)
    count = observed.sum(axis=1, keepdims=True)
    nothing = np.full(count.shape, np.nan)
    mean = np.divide(
        np.where(observed, values, 0.0).sum(axis=1, keepdims=True),
        count,
        out=nothing.copy(),
        where=count > 0,
    )
    squares = np.where(observed, (values - mean) ** 2, 0.0).sum(axis=1, keepdims=True)
    variance = np.divide(squares, count, out=nothing, where=count > 0)
    return mean, np.sqrt(variance)


def _stop_after(seconds: float) -> Callable[[Any], None]:
    """A LightGBM callback that keeps the trees so far once ``seconds`` have passed."""
    import lightgbm

    deadline = time.monotonic() + seconds

    def stop(env: Any) -> None:
        if time.monotonic() > deadline:
            raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    return stop
