"""Split-conformal prediction intervals: calibrated on held-out rows, valid in finite samples.

After training, :meth:`Regressor.fit <deepfit.Regressor.fit>` measures the absolute residuals
``|y - prediction|`` (in the target's units) on the held-out validation rows, which did not
train the weights, and keeps a sorted copy as a :class:`ConformalCalibration`. For a
``level`` in (0, 1), the interval is ``prediction +- q`` where ``q`` is the
``ceil((n + 1) * level)``-th smallest of the ``n`` residuals. When the new rows and the
calibration rows are exchangeable (drawn from the same distribution), a new row's target lies
in its interval with probability at least ``level`` (and, with distinct residuals, below
``level + 1 / (n + 1)``).

Finite-sample rule: when ``ceil((n + 1) * level) > n``, i.e. ``level > n / (n + 1)``, the
conformal quantile is infinite. Rather than return infinite bounds (which JSON cannot
carry), asking for such a level raises a :class:`~deepfit.errors.ConfigError` that names
the highest level the model supports (:attr:`ConformalCalibration.max_level`).

Caveat: early stopping picks the best epoch on the same validation rows, so they are not
perfectly "unseen"; the residuals can be a little smaller than on new data and the coverage
a little optimistic. Picking one of a few hundred epochs by one number leaks little: on
fresh data the coverage stays within sampling error of the level (see
``tests/test_intervals.py``). With ``patience=None`` and ``X_val, y_val`` given to ``fit``, the
rows only calibrate, and the guarantee is exact.

Example:
    >>> import numpy as np
    >>> calibration = ConformalCalibration.from_residuals(np.arange(1.0, 100.0))
    >>> calibration.quantile(0.9)  # the ceil(100 * 0.9) = 90th smallest of 1, 2, ..., 99
    90.0
    >>> calibration.max_level
    0.99
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from deepfit.errors import ConfigError

METHOD = "split_conformal"
MAX_RESIDUALS = 10_000


def check_level(level: Any) -> float:
    """``level`` as a float strictly between 0 and 1, or a :class:`ConfigError`.

    Example:
        >>> check_level(0.9)
        0.9
    """
    if isinstance(level, bool) or not isinstance(level, int | float | np.integer | np.floating):
        raise ConfigError(
            f"interval must be a coverage level between 0 and 1, e.g. 0.9; got {level!r}"
        )
    value = float(level)
    if not 0.0 < value < 1.0:  # NaN fails this too
        raise ConfigError(
            f"interval must be a coverage level strictly between 0 and 1, e.g. 0.9; got {value}"
        )
    return value


@dataclass(frozen=True, eq=False)
class ConformalCalibration:
    """Sorted absolute residuals of held-out rows, and how many rows they came from.

    ``residuals`` holds at most :data:`MAX_RESIDUALS` values: with more calibration rows,
    evenly spaced order statistics of all ``n_rows`` residuals (the smallest and the
    largest included); quantiles are read at the rank they have among all ``n_rows``,
    rounded up, so subsampling never narrows an interval.
    """

    residuals: np.ndarray
    n_rows: int
    method: str = METHOD

    @classmethod
    def from_residuals(cls, residuals: Any) -> ConformalCalibration:
        """The calibration of these absolute residuals (finite, non-negative; any order)."""
        values = np.sort(np.abs(np.asarray(residuals, dtype=np.float64).ravel()))
        if len(values) == 0 or not np.isfinite(values).all():
            raise ValueError("calibration needs at least one finite residual")
        n_rows = len(values)
        if n_rows > MAX_RESIDUALS:
            ranks = np.round(np.linspace(0, n_rows - 1, MAX_RESIDUALS)).astype(np.int64)
            values = values[ranks]
        return cls(values, n_rows)

    @property
    def max_level(self) -> float:
        """The highest level with a finite interval: ``n / (n + 1)``."""
        return self.n_rows / (self.n_rows + 1)

    def quantile(self, level: float) -> float:
        """Half the width of the interval at ``level``: the conformal quantile of residuals."""
        level = check_level(level)
        rank = math.ceil((self.n_rows + 1) * level - 1e-9)  # 1-based; tolerance for 0.9 * 10
        if rank > self.n_rows:
            raise ConfigError(
                f"a {level:g} interval needs at least {math.ceil(level / (1 - level) - 1e-9)} "
                f"calibration rows, but this model was calibrated on {self.n_rows}; choose a "
                f"level of at most {math.floor(self.max_level * 10_000) / 10_000:g}, or train with "
                "more validation rows"
            )
        stored = len(self.residuals)
        if stored == self.n_rows:
            return float(self.residuals[rank - 1])
        # stored[j] is the residual of rank round(j * (n - 1) / (m - 1)) + 1; take the first
        # stored value whose rank is at least ``rank``.
        position = math.ceil((rank - 1) * (stored - 1) / (self.n_rows - 1) - 1e-9)
        return float(self.residuals[min(position, stored - 1)])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, stored in a saved model's ``metadata.json``."""
        return {
            "method": self.method,
            "n_rows": self.n_rows,
            "residuals": [float(value) for value in self.residuals],
        }

    @classmethod
    def from_dict(cls, document: Any) -> ConformalCalibration:
        """The calibration :meth:`to_dict` wrote; a ``ValueError`` if it is malformed."""
        if not isinstance(document, dict):
            raise ValueError("calibration is not an object")
        if document.get("method") != METHOD:
            raise ValueError(f"unknown calibration method {document.get('method')!r}")
        n_rows = document.get("n_rows")
        raw = document.get("residuals")
        if not isinstance(n_rows, int) or isinstance(n_rows, bool) or n_rows < 1:
            raise ValueError("calibration n_rows is not a positive integer")
        if not isinstance(raw, list) or not 1 <= len(raw) <= n_rows:
            raise ValueError("calibration residuals are not a list of 1 to n_rows numbers")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
            raise ValueError("calibration residuals are not all numbers")
        residuals = np.asarray(raw, dtype=np.float64)
        if not np.isfinite(residuals).all() or (residuals < 0).any():
            raise ValueError("calibration residuals are not finite and non-negative")
        if (np.diff(residuals) < 0).any():
            raise ValueError("calibration residuals are not sorted")
        return cls(residuals, n_rows)


@dataclass(frozen=True, eq=False)
class PredictionIntervals:
    """Predictions with their conformal interval: ``lower <= prediction <= upper``, per row.

    Returned by ``Regressor.predict(X, interval=level)``; all arrays are float64 and as long
    as ``X``. ``to_frame()`` gives a DataFrame with the columns prediction, lower, upper.

    Example:
        >>> result = model.predict(X_new, interval=0.9)  # doctest: +SKIP
        >>> result.lower, result.upper  # hold the target of 90% of rows  # doctest: +SKIP
        >>> result.to_frame().head()  # doctest: +SKIP
    """

    prediction: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float

    def __len__(self) -> int:
        return len(self.prediction)

    @property
    def width(self) -> np.ndarray:
        """``upper - lower`` for every row."""
        return self.upper - self.lower

    def to_frame(self, index: Any = None) -> pd.DataFrame:
        """The columns ``prediction``, ``lower`` and ``upper``, with ``index`` if given."""
        return pd.DataFrame(
            {"prediction": self.prediction, "lower": self.lower, "upper": self.upper},
            index=index,
        )


def bounds(
    predictions: np.ndarray, calibration: ConformalCalibration, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds at ``level`` around ``predictions`` (float64)."""
    half_width = calibration.quantile(level)
    values = np.asarray(predictions, dtype=np.float64)
    return values - half_width, values + half_width


__all__ = [
    "MAX_RESIDUALS",
    "ConformalCalibration",
    "PredictionIntervals",
    "bounds",
    "check_level",
]
