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
``tests/evaluation/test_intervals.py``). With ``patience=None`` and ``X_val, y_val`` given
to ``fit``, the rows only calibrate, and the guarantee is exact.

Quantile option (``Regressor(interval_method="quantile")``): conformalised quantile
regression (Romano, Patterson and Candès, 2019). A second network learns the quantiles
:data:`QUANTILE_LEVELS` with the pinball loss; for a level ``L`` its quantiles
``(1 - L) / 2`` and ``(1 + L) / 2`` are the raw bounds, and the held-out rows' scores
``max(lower - y, y - upper)`` (:class:`QuantileCalibration`) widen or narrow them by their
conformal quantile. The guarantee is the same, and the width follows each row's own
uncertainty instead of being one number for all rows. Levels are those the quantile grid
gives: 0.05, 0.10, ..., 0.95.

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
QUANTILE_METHOD = "conformalized_quantile"
MAX_RESIDUALS = 10_000
MAX_SCORES_PER_LEVEL = 1_000
QUANTILE_STEP = 0.025
# The quantiles the interval network learns: 0.025, 0.05, ..., 0.975 (39 outputs).
QUANTILE_LEVELS = tuple(round(QUANTILE_STEP * i, 3) for i in range(1, 40))
# The coverage levels they bound symmetrically: 0.05, 0.10, ..., 0.95.
QUANTILE_INTERVAL_LEVELS = tuple(round(1 - 2 * q, 3) for q in reversed(QUANTILE_LEVELS[:19]))


def conformal_quantile(kept: np.ndarray, n_rows: int, level: float, *, what: str) -> float:
    """The ``ceil((n_rows + 1) * level)``-th smallest of ``n_rows`` sorted scores, of which
    ``kept`` holds evenly spaced order statistics; a ConfigError when the rank is past
    ``n_rows`` (``level > n_rows / (n_rows + 1)``: the quantile would be infinite).

    Example:
        >>> conformal_quantile(np.arange(1.0, 100.0), 99, 0.9, what="interval")
        90.0
    """
    level = check_level(level)
    rank = math.ceil((n_rows + 1) * level - 1e-9)  # 1-based; tolerance for 0.9 * 10
    if rank > n_rows:
        highest = math.floor(n_rows / (n_rows + 1) * 10_000) / 10_000
        raise ConfigError(
            f"a {level:g} {what} needs at least {math.ceil(level / (1 - level) - 1e-9)} "
            f"calibration rows, but this model was calibrated on {n_rows}; choose a level of "
            f"at most {highest:g}, or train with more validation rows"
        )
    stored = len(kept)
    if stored == n_rows:
        return float(kept[rank - 1])
    # kept[j] is the score of rank round(j * (n - 1) / (m - 1)) + 1; take the first kept
    # value whose rank is at least ``rank``.
    position = math.ceil((rank - 1) * (stored - 1) / (n_rows - 1) - 1e-9)
    return float(kept[min(position, stored - 1)])


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
        return cls.from_scores(np.abs(np.asarray(residuals, dtype=np.float64)))

    @classmethod
    def from_scores(
        cls, scores: Any, *, keep: int = MAX_RESIDUALS, method: str = METHOD
    ) -> ConformalCalibration:
        """The calibration of any finite conformity scores (e.g. CQR's, which may be
        negative), keeping at most ``keep`` order statistics."""
        values = np.sort(np.asarray(scores, dtype=np.float64).ravel())
        if len(values) == 0 or not np.isfinite(values).all():
            raise ValueError("calibration needs at least one finite residual")
        n_rows = len(values)
        if n_rows > keep:
            ranks = np.round(np.linspace(0, n_rows - 1, keep)).astype(np.int64)
            values = values[ranks]
        return cls(values, n_rows, method)

    @property
    def max_level(self) -> float:
        """The highest level with a finite interval: ``n / (n + 1)``."""
        return self.n_rows / (self.n_rows + 1)

    def quantile(self, level: float) -> float:
        """Half the width of the interval at ``level``: the conformal quantile of residuals."""
        return conformal_quantile(self.residuals, self.n_rows, level, what="interval")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, stored in a saved model's ``metadata.json``."""
        return {
            "method": self.method,
            "n_rows": self.n_rows,
            "residuals": [float(value) for value in self.residuals],
        }

    @classmethod
    def from_dict(cls, document: Any, *, signed: bool = False) -> ConformalCalibration:
        """The calibration :meth:`to_dict` wrote; a ``ValueError`` if it is malformed.

        ``signed`` accepts negative scores (a :class:`QuantileCalibration`'s)."""
        if not isinstance(document, dict):
            raise ValueError("calibration is not an object")
        method = QUANTILE_METHOD if signed else METHOD
        if document.get("method") != method:
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
        if not np.isfinite(residuals).all() or (not signed and (residuals < 0).any()):
            raise ValueError("calibration residuals are not finite and non-negative")
        if (np.diff(residuals) < 0).any():
            raise ValueError("calibration residuals are not sorted")
        return cls(residuals, n_rows, method)


@dataclass(frozen=True, eq=False)
class QuantileCalibration:
    """Conformalised quantile regression: for each level, the held-out rows' sorted scores.

    A row's score at level ``L`` is ``max(lower - y, y - upper)`` where ``lower`` and
    ``upper`` are the learned quantiles ``(1 - L) / 2`` and ``(1 + L) / 2``: positive when
    the row falls outside its raw interval. :meth:`quantile` gives the conformal quantile of
    those scores, the amount added on both sides. It has the interface of
    :class:`ConformalCalibration` (``method``, ``n_rows``, ``max_level``, ``quantile``).

    Example:
        >>> import numpy as np
        >>> y = np.arange(100.0)
        >>> quantiles = np.tile(np.linspace(10.0, 90.0, len(QUANTILE_LEVELS)), (100, 1))
        >>> calibration = QuantileCalibration.from_predictions(quantiles, y)
        >>> calibration.quantile(0.5) < 10.0
        True
    """

    scores: dict[float, ConformalCalibration]
    n_rows: int
    method: str = QUANTILE_METHOD

    @classmethod
    def from_predictions(cls, quantiles: np.ndarray, y: Any) -> QuantileCalibration:
        """Scores of held-out rows from their learned quantiles ``[rows, QUANTILE_LEVELS]``
        (target units) and their targets."""
        target = np.asarray(y, dtype=np.float64)
        ordered = np.sort(np.asarray(quantiles, dtype=np.float64), axis=1)
        scores = {}
        for level in QUANTILE_INTERVAL_LEVELS:
            low, high = quantile_columns(level)
            score = np.maximum(ordered[:, low] - target, target - ordered[:, high])
            scores[level] = ConformalCalibration.from_scores(
                score, keep=MAX_SCORES_PER_LEVEL, method=QUANTILE_METHOD
            )
        return cls(scores, len(target))

    @property
    def max_level(self) -> float:
        """The highest level with a finite interval (at most 0.95, the grid's widest)."""
        usable = [level for level in self.scores if level <= self.n_rows / (self.n_rows + 1)]
        return max(usable, default=0.0)

    def quantile(self, level: float) -> float:
        """What is added to both raw bounds at ``level`` (negative: they move inwards)."""
        level = check_level(level)
        for known, calibration in self.scores.items():
            if abs(known - level) < 1e-9:
                return calibration.quantile(level)
        raise ConfigError(
            f"this model's quantile intervals are calibrated at the levels 0.05, 0.1, ..., "
            f"0.95, not {level:g}; choose one of them, or train with "
            "interval_method='conformal' (--interval-method conformal) for any level"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, stored in a saved model's ``metadata.json``."""
        return {
            "method": self.method,
            "n_rows": self.n_rows,
            "levels": {f"{level:g}": scores.to_dict() for level, scores in self.scores.items()},
        }

    @classmethod
    def from_dict(cls, document: Any) -> QuantileCalibration:
        """The calibration :meth:`to_dict` wrote; a ``ValueError`` if it is malformed."""
        if not isinstance(document, dict) or not isinstance(document.get("levels"), dict):
            raise ValueError("quantile calibration has no levels")
        n_rows = document.get("n_rows")
        if not isinstance(n_rows, int) or isinstance(n_rows, bool) or n_rows < 1:
            raise ValueError("calibration n_rows is not a positive integer")
        scores = {}
        for text, part in document["levels"].items():
            level = check_level(float(text))
            if not any(abs(level - known) < 1e-9 for known in QUANTILE_INTERVAL_LEVELS):
                raise ValueError(f"quantile calibration has an unknown level {text!r}")
            scores[level] = ConformalCalibration.from_dict(part, signed=True)
        return cls(scores, n_rows)


def quantile_columns(level: float) -> tuple[int, int]:
    """The columns of :data:`QUANTILE_LEVELS` that bound a ``level`` interval."""
    tail = (1.0 - level) / 2.0
    low = round(tail / QUANTILE_STEP) - 1
    return low, len(QUANTILE_LEVELS) - 1 - low


def calibration_from_dict(document: Any) -> ConformalCalibration | QuantileCalibration:
    """Either kind of calibration, from what its ``to_dict`` wrote."""
    if isinstance(document, dict) and document.get("method") == QUANTILE_METHOD:
        return QuantileCalibration.from_dict(document)
    return ConformalCalibration.from_dict(document)


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


def quantile_bounds(
    predictions: np.ndarray,
    quantiles: np.ndarray,
    calibration: QuantileCalibration,
    level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """CQR bounds at ``level`` from learned ``quantiles`` ``[rows, QUANTILE_LEVELS]``.

    The bounds are widened, where needed, to hold the point prediction, so that
    ``lower <= prediction <= upper`` always (widening keeps the coverage guarantee).
    """
    correction = calibration.quantile(level)
    ordered = np.sort(np.asarray(quantiles, dtype=np.float64), axis=1)
    low, high = quantile_columns(check_level(level))
    values = np.asarray(predictions, dtype=np.float64)
    lower = np.minimum(ordered[:, low] - correction, values)
    upper = np.maximum(ordered[:, high] + correction, values)
    return lower, upper


__all__ = [
    "MAX_RESIDUALS",
    "QUANTILE_INTERVAL_LEVELS",
    "QUANTILE_LEVELS",
    "ConformalCalibration",
    "PredictionIntervals",
    "QuantileCalibration",
    "bounds",
    "calibration_from_dict",
    "check_level",
    "quantile_bounds",
]
