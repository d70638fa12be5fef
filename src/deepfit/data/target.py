"""Check the target column and standardise a numeric one for training."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import DataConversionWarning

from deepfit.data.numeric_text import DECIMAL_COMMA_FIX, decimal_comma, parse_numbers
from deepfit.data.preprocess import check_float32
from deepfit.data.schema import NUMERIC_TEXT_SHARE, holds_nested
from deepfit.errors import DataError

# What a regression network learns: the target; its log (relative errors weigh alike); its log,
# scored in the target's units and as a log (squared errors as with none, relative ones too).
TARGET_TRANSFORMS = ("none", "log", "log_link")
LOG_TRANSFORMS = frozenset({"log", "log_link"})
SKEWED = 0.5  # from this skewness on a distribution is "moderately skewed" (Bulmer, 1979)


def as_target_series(values: Any, name: str = "target") -> pd.Series:
    """One target column as a Series (0..n-1 index), or a DataError about its shape.

    Example:
        >>> as_target_series(np.array([[1], [2]]), "y").tolist()  # doctest: +SKIP
        [1, 2]
    """
    if values is None:
        raise DataError(
            "this estimator requires y to be passed, but the target y is None; pass the "
            "target values"
        )
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise DataError(
                f"deepfit predicts one target, but y has {values.shape[1]} columns; pass one"
            )
        values = values.iloc[:, 0]
    if not isinstance(values, pd.Series):
        array = np.asarray(values)
        if array.ndim == 2 and array.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it was flattened",
                DataConversionWarning,
                stacklevel=3,
            )
        elif array.ndim != 1:
            raise DataError(
                f"deepfit predicts one target, but y has shape {array.shape}; pass a 1-D array"
            )
        values = array.ravel()
    series = pd.Series(values).reset_index(drop=True)
    if holds_nested(series.dropna()):
        raise DataError(
            f"target '{name}' holds lists or records, not values; deepfit predicts one number "
            "or label per row: flatten the target into one column"
        )
    if len(series) == 0:
        raise DataError(f"target '{name}' has no values; the data needs at least one labelled row")
    return series


def check_target(values: Any, name: str = "target") -> np.ndarray:
    """Return a numeric target as float64, or raise a DataError that says what is wrong with it.

    Example:
        >>> check_target([1, 2.5], "price").tolist()
        [1.0, 2.5]
    """
    series = as_target_series(values, name)
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        numbers = parse_numbers(series)
        text = series.notna() & numbers.isna()
        example = decimal_comma(series, NUMERIC_TEXT_SHARE) if text.any() else None
        if example is not None:
            raise DataError(
                f"target '{name}' holds numbers written with a decimal comma, such as "
                f"{example!r}; {DECIMAL_COMMA_FIX}"
            )
        if text.any():
            row = int(np.argmax(text.to_numpy()))
            raise DataError(
                f"target '{name}' must be numeric for regression, but row {row + 1} holds "
                f"{series.iloc[row]!r}; to predict labels use Classifier (--task classification)"
            )
        series = numbers
    array = series.to_numpy(dtype=np.float64)
    for problem, mask, fix in (
        ("missing", np.isnan(array), "fill in the target"),
        ("infinite", np.isinf(array), "fix the values"),
    ):
        rows = np.flatnonzero(mask)
        if len(rows):
            raise DataError(
                f"target '{name}' is {problem} in {len(rows)} row(s) (first: {_rows(rows)}); "
                f"drop those rows or {fix}"
            )
    check_float32(array, f"target '{name}'")
    return array


def skewed_positive(y: np.ndarray, also: Any = None) -> bool:
    """Whether every target value is positive, their skewness is at least :data:`SKEWED`,
    and their logarithm is less skewed than they are: a price, a wage or a duration, which a
    multiplicative fit (its logarithm) suits. A left-skewed target, which the log would skew
    further, is not. ``also`` (the validation target, when given) must be positive too,
    since its logarithm is scored as well.

    Example:
        >>> skewed_positive(np.exp(np.linspace(0.0, 5.0, 100)))
        True
        >>> skewed_positive(np.linspace(1.0, 2.0, 100))
        False
    """
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 3 or not bool((y > 0).all()) or not _positive(also):
        return False
    skewness = _skewness(y)
    return skewness >= SKEWED and abs(_skewness(np.log(y))) < skewness


def _positive(values: Any) -> bool:
    """Whether ``values`` (None: there are none) are all numbers above zero."""
    if values is None:
        return True
    try:
        return bool((np.asarray(values, dtype=np.float64) > 0).all())
    except (TypeError, ValueError):
        return False


def _skewness(values: np.ndarray) -> float:
    """The sample's skewness (0 when every value is the same)."""
    deviations = values - values.mean()
    spread = float(np.sqrt(np.mean(deviations**2)))
    if spread <= 1e-12 * float(np.abs(values).max()):
        return 0.0
    return float(np.mean(deviations**3)) / spread**3


def _rows(rows: np.ndarray) -> str:
    return ", ".join(str(int(r) + 1) for r in rows[:5])


@dataclass
class TargetScaler:
    """Standardise the target for training; map predictions back to the target's units."""

    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def fit(cls, y: np.ndarray) -> TargetScaler:
        std = float(np.std(y))
        return cls(mean=float(np.mean(y)), std=std if std > 1e-12 else 1.0)

    def transform(self, y: np.ndarray) -> np.ndarray:
        return (y - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return z * self.std + self.mean
