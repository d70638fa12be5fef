"""Regression metrics in the target's own units: pure functions ``(y_true, y_pred) -> float``.

Metrics that a target does not allow (MAPE with zeros in the target, MSLE with negative
values) return NaN rather than a misleading number; :func:`regression_metrics` leaves them out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm

Metric = Callable[[np.ndarray, np.ndarray], float]


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(skm.mean_squared_error(y_true, y_pred))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(mse(y_true, y_pred)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(skm.mean_absolute_error(y_true, y_pred))


def median_absolute_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(skm.median_absolute_error(y_true, y_pred))


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan")


def explained_variance(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(skm.explained_variance_score(y_true, y_pred)) if len(y_true) > 1 else float("nan")


def mape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute percentage error, as a fraction (0.1 is 10%); NaN if the target has zeros."""
    if np.any(y_true == 0):
        return float("nan")
    return float(skm.mean_absolute_percentage_error(y_true, y_pred))


def msle(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared log error; NaN for negative targets. Negative predictions count as 0."""
    if np.any(y_true < 0):
        return float("nan")
    return float(np.mean((np.log1p(y_true) - np.log1p(np.clip(y_pred, 0, None))) ** 2))


def rmsle(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(msle(y_true, y_pred)))


METRICS: dict[str, Metric] = {
    "rmse": rmse,
    "mse": mse,
    "mae": mae,
    "r2": r2,
    "explained_variance": explained_variance,
    "mape": mape,
    "msle": msle,
    "rmsle": rmsle,
    "median_ae": median_absolute_error,
}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Every metric the target allows, by name.

    Example:
        >>> round(regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 3.0]))["mae"], 2)
        0.5
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    scores = {name: metric(y_true, y_pred) for name, metric in METRICS.items()}
    return {name: value for name, value in scores.items() if np.isfinite(value)}
