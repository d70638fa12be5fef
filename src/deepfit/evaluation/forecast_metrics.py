"""Forecast metrics over windows of ``H`` steps, overall and by step ahead.

**Shape:** ``actual`` and ``predicted`` are ``[n_windows, H]``; a NaN in ``actual`` marks a step
that was missing from the data and is scored nowhere. MASE divides each window's errors by the
in-sample seasonal naive error of its series (:func:`mase_scale`), so 1.0 means "as good as
repeating the last season".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries import offsets
from pandas.tseries.frequencies import to_offset

# A target value counts as zero for MAPE below this fraction of the largest absolute value.
MAPE_ZERO_TOLERANCE = 1e-8

_DAY = pd.Timedelta(days=1).value
_DAYS_PER_WEEK = 7
_MONTHLY = (
    offsets.MonthBegin,
    offsets.MonthEnd,
    offsets.BusinessMonthBegin,
    offsets.BusinessMonthEnd,
    offsets.CustomBusinessMonthBegin,
    offsets.CustomBusinessMonthEnd,
    offsets.WeekOfMonth,
    offsets.LastWeekOfMonth,
)
_QUARTERLY = (
    offsets.QuarterBegin,
    offsets.QuarterEnd,
    offsets.BQuarterBegin,
    offsets.BQuarterEnd,
    offsets.FY5253Quarter,
)
# Steps of one unit in the natural season of each calendar offset (CustomBusinessDay included).
_CALENDAR_SEASONS: tuple[tuple[type | tuple[type, ...], int], ...] = (
    (offsets.BusinessDay, 5),
    (offsets.Day, _DAYS_PER_WEEK),
    (offsets.Week, 52),
    ((offsets.SemiMonthBegin, offsets.SemiMonthEnd), 24),
    (_MONTHLY, 12),
    (_QUARTERLY, 4),
)


def season_length(frequency: str) -> int:
    """The natural season of a pandas frequency alias, in steps (1 when there is none).

    Sub-daily steps repeat daily, days weekly (business days every 5), weeks, months and
    quarters yearly. A multiple of the unit divides the season when it can (``"2h"`` is 12,
    ``"3ME"`` is 4) and gives 1 when it cannot (``"7min"``, ``"2D"``).

    Example:
        >>> season_length("30min"), season_length("D"), season_length("MS")
        (48, 7, 12)
    """
    offset = to_offset(frequency)
    if isinstance(offset, offsets.Tick):
        return _tick_season(offset.nanos)
    for offset_type, season in _CALENDAR_SEASONS:
        if isinstance(offset, offset_type):
            return _divided(season, abs(offset.n))
    return 1


def _tick_season(step_nanos: int) -> int:
    if step_nanos < _DAY:
        return _divided(_DAY, step_nanos)
    if step_nanos % _DAY:
        return 1
    return _divided(_DAYS_PER_WEEK, step_nanos // _DAY)


def _divided(season: int, step: int) -> int:
    if step <= 0 or season % step:
        return 1
    return max(season // step, 1)


def mase_scale(history: np.ndarray, season: int) -> float:
    """Mean absolute seasonal difference of ``history``: the denominator of MASE.

    Pairs with a NaN are skipped. A history too short for ``season`` (or with no seasonal
    variation) falls back to the one-step difference; NaN when that is 0 or unavailable too.

    Example:
        >>> mase_scale(np.array([1.0, 2.0, 4.0, 7.0]), 1)
        2.0
    """
    values = np.asarray(history, dtype=np.float64).ravel()
    for lag in (season, 1) if season > 1 else (1,):
        if len(values) <= lag:
            continue
        differences = np.abs(values[lag:] - values[:-lag])
        differences = differences[np.isfinite(differences)]
        scale = float(differences.mean()) if len(differences) else float("nan")
        if np.isfinite(scale) and scale > 0:
            return scale
    return float("nan")


def forecast_metrics(
    actual: np.ndarray, predicted: np.ndarray, scale: np.ndarray
) -> dict[str, Any]:
    """MAE, RMSE, sMAPE, MAPE and MASE over every scored step, and each by step ahead.

    A step is scored where both ``actual`` and ``predicted`` are numbers: a missing actual is a
    gap in the data, a missing forecast one the model could not make, and ``n_scored`` counts
    what is left. ``scale`` is ``[n_windows]``, the :func:`mase_scale` of each window's series.
    Percentages are in percent. MAPE is None when a scored actual is (near) zero; MASE is None
    when no window has a scale, and windows without one are left out of MASE only. A metric
    with nothing to score, overall or at a step ahead, is None. Every number is a plain float,
    ready for JSON.

    Example:
        >>> scores = forecast_metrics(
        ...     np.array([[1.0, 2.0]]), np.array([[1.0, 3.0]]), np.array([1.0])
        ... )
        >>> scores["mae"], scores["mase"], scores["by_step"]["mae"], scores["n_scored"]
        (0.5, 0.5, [0.0, 1.0], 2)
    """
    actual, predicted, scale = _checked(actual, predicted, scale)
    scored = np.isfinite(actual) & np.isfinite(predicted)
    absolute = np.abs(np.where(scored, predicted - actual, 0.0))
    magnitude = np.where(scored, np.abs(actual) + np.abs(predicted), 0.0)
    symmetric = np.divide(2 * absolute, magnitude, out=np.zeros_like(absolute), where=magnitude > 0)
    has_scale = np.isfinite(scale) & (scale > 0)
    terms = {
        "mae": (absolute, scored),
        "rmse": (absolute**2, scored),
        "smape": (100 * symmetric, scored),
        "mape": _mape_terms(actual, absolute, scored),
        "mase": None,
    }
    if has_scale.any():
        mase_terms = absolute / np.where(has_scale, scale, 1.0)[:, None]
        terms["mase"] = (mase_terms, scored & has_scale[:, None])
    scores: dict[str, Any] = {"by_step": {}}
    for name, term in terms.items():
        root = name == "rmse"
        scores[name] = None if term is None else _mean(*term, root=root)
        scores["by_step"][name] = None if term is None else _means_by_step(*term, root=root)
    scores["n_scored"] = int(scored.sum())
    return scores


def _checked(
    actual: np.ndarray, predicted: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64).ravel()
    if actual.ndim != 2 or predicted.shape != actual.shape:
        raise ValueError(
            "actual and predicted must both be [n_windows, H], however: "
            f"actual {actual.shape}, predicted {predicted.shape}"
        )
    if scale.shape != (actual.shape[0],):
        raise ValueError(
            f"scale must hold one value per window ({actual.shape[0]}), however: {scale.shape}"
        )
    return actual, predicted, scale


def _mape_terms(
    actual: np.ndarray, absolute: np.ndarray, scored: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    magnitude = np.abs(np.where(scored, actual, 0.0))
    if np.any(magnitude[scored] <= MAPE_ZERO_TOLERANCE * magnitude.max()):
        return None
    percent = 100 * np.divide(absolute, magnitude, out=np.zeros_like(absolute), where=scored)
    return percent, scored


def _mean(values: np.ndarray, mask: np.ndarray, *, root: bool) -> float | None:
    if not mask.any():
        return None
    mean = float(values[mask].mean())
    return float(np.sqrt(mean)) if root else mean


def _means_by_step(values: np.ndarray, mask: np.ndarray, *, root: bool) -> list[float | None]:
    return [_mean(values[:, step], mask[:, step], root=root) for step in range(values.shape[1])]
