"""Partial dependence: the average prediction as one raw column is set to each grid value.

For a classifier the prediction is the probability of one class: the positive (second) one
of a binary target, else the class most often predicted on the rows given."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deepfit.data.date_text import read_dates
from deepfit.data.preprocess import DATE_UNIT
from deepfit.explain.columns import feature_roles

if TYPE_CHECKING:
    from deepfit.estimator.base import Estimator

GRID_SIZE = 20
QUANTILES = (0.05, 0.95)


def partial_dependence(
    model: Estimator, X: pd.DataFrame, features: list[str], *, grid_size: int = GRID_SIZE
) -> pd.DataFrame:
    """For each of ``features``, the mean prediction over ``X`` with the column set to a grid.

    The grid holds quantiles (5% to 95%) of a numeric column, False and True for a boolean
    one, every category the model knows for a categorical one, and quantiles of the dates for
    a date column. Returns one row per feature and grid value: ``feature``, ``role``,
    ``value`` (the grid value: a number, a category, or a timestamp) and
    ``average_prediction`` (target units).

    Example:
        >>> partial_dependence(model, X, ["x1"]).head(2)  # doctest: +SKIP
          feature     role     value  average_prediction
        0      x1  numeric -1.61...              55.1...
    """
    roles = feature_roles(model)
    task = model.task_
    focus = task.focus(model.predict_answers(X)) if len(X) else None
    parts = []
    for feature in features:
        role = roles[feature]
        grid = _grid(model, X[feature], role, grid_size)
        if not grid or len(X) == 0:
            continue
        batch = pd.concat([X.assign(**{feature: value}) for value in grid], ignore_index=True)
        answers = model.predict_answers(batch)
        predictions = task.explained(answers, focus).reshape(len(grid), len(X))
        parts.append(
            pd.DataFrame(
                {
                    "feature": feature,
                    "role": role,
                    "value": pd.Series(grid, dtype=object),
                    "average_prediction": predictions.mean(axis=1),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["feature", "role", "value", "average_prediction"])
    return pd.concat(parts, ignore_index=True)


def _grid(model: Estimator, column: pd.Series, role: str, grid_size: int) -> list[Any]:
    """The values a column is set to, in order."""
    if role == "boolean":
        return [False, True]
    if role == "categorical":
        return list(model.preprocessor_.vocabularies[str(column.name)])
    levels = np.linspace(*QUANTILES, grid_size)
    if role == "datetime":
        stamps = _dates(column).dropna()
        if stamps.empty:
            return []
        moments = stamps.astype(DATE_UNIT).astype("int64").to_numpy(dtype=np.float64)
        grid = pd.to_datetime(np.quantile(moments, levels).round(), unit="us")
        if "hour" not in model.preprocessor_.date_parts.get(str(column.name), []):
            grid = grid.floor("D")
        return list(pd.DatetimeIndex(grid).unique())
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return []
    return [float(v) for v in np.unique(np.quantile(values, levels))]


def _dates(column: pd.Series) -> pd.Series:
    """A date column as timezone-naive timestamps (UTC), NaT where missing or unreadable."""
    stamps = column if pd.api.types.is_datetime64_any_dtype(column) else read_dates(column)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps
