"""Split-conformal prediction sets: for each row, classes that hold its label at a level.

Angelopoulos and Bates, "A Gentle Introduction to Conformal Prediction and Distribution-Free
Uncertainty Quantification" (2021), sections 1 (LAC) and 2.1 (APS). On held-out rows that did
not train the model, a conformity score measures how badly the predicted probabilities fit
the true class; for a ``level`` in (0, 1), ``q`` is the ``ceil((n + 1) * level)``-th
smallest of the ``n`` scores, and a new row's set holds every class whose score is at most
``q``. When new rows and calibration rows are exchangeable, the set holds the true class
with probability at least ``level``.

Methods (:data:`SET_METHODS`):

* ``"lac"`` (least ambiguous set-valued classifier): score ``1 - p_true``. The smallest sets
  on average; a row the model finds hard can get an empty set.
* ``"aps"`` (adaptive prediction sets, not randomised): score = the total probability of the
  classes ranked at or above the true class (by probability, descending; ties by the lower
  class code), and 0 when the true class is the most probable one. Sets grow with the row's
  uncertainty and always hold the most probable class, so they are never empty.

  Why 0 for the most probable class: a set always holds it, so a row whose true class it is
  is always covered, whatever its probability. Scoring such a row by that probability (as
  the plain definition does) makes ``q`` larger than the sets need and the coverage too
  high: by 9 points at level 0.8 on a 3-class problem whose top class is often above 75%.
  With the score matching the set rule, the coverage is ``level`` to within ``1 / (n + 1)``
  whenever the model's accuracy is below ``level`` (above it, sets of one class already
  cover more).

As in :mod:`deepfit.evaluation.intervals`, a level above ``n / (n + 1)`` would need an
infinite ``q`` and is a :class:`~deepfit.errors.ConfigError` naming the highest level, and at
most :data:`MAX_SCORES` evenly spaced order statistics of the scores are kept.

Example:
    >>> proba = np.tile([0.6, 0.3, 0.1], (10, 1))
    >>> codes = np.array([0] * 7 + [1] * 2 + [2])  # LAC scores: 0.4 (7 times), 0.7, 0.7, 0.9
    >>> calibration = SetCalibration.from_probabilities(proba, codes, "lac")
    >>> calibration.threshold(0.8)  # the ceil(11 * 0.8) = 9th smallest score
    0.7
    >>> calibration.sets(np.array([[0.6, 0.3, 0.1], [0.8, 0.15, 0.05]]), 0.8).astype(int)
    array([[1, 1, 0],
           [1, 0, 0]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepfit.errors import ConfigError, DataError
from deepfit.evaluation.classification_metrics import as_codes, as_probabilities
from deepfit.evaluation.intervals import conformal_quantile

SET_METHODS = ("aps", "lac")
MAX_SCORES = 10_000
# Scores are probabilities or sums of them: within [0, 1] up to rounding.
_SCORE_SLACK = 1e-9


def _check_method(method: Any) -> str:
    if method not in SET_METHODS:
        raise ConfigError(
            f"prediction set method must be one of {', '.join(SET_METHODS)}; got {method!r}; "
            "use 'aps' for sets that adapt to each row, 'lac' for the smallest sets"
        )
    return str(method)


def cumulative_mass(proba: np.ndarray) -> np.ndarray:
    """For each row and class, the probability of the classes ranked at or above it.

    Ranked by probability, descending, ties broken by the lower class code.

    Example:
        >>> cumulative_mass(np.array([[0.2, 0.5, 0.3]]))
        array([[1. , 0.5, 0.8]])
    """
    values = as_probabilities(proba)
    order = np.argsort(-values, axis=1, kind="stable")
    running = np.cumsum(np.take_along_axis(values, order, axis=1), axis=1)
    mass = np.empty_like(values)
    np.put_along_axis(mass, order, running, axis=1)
    return mass


def _class_scores(proba: np.ndarray, method: str) -> np.ndarray:
    """Every class's conformity score ``[rows, C]``: low when the class fits the row."""
    values = as_probabilities(proba)
    if method == "lac":
        return 1.0 - values
    scores = cumulative_mass(values)
    scores[np.arange(len(values)), np.argmax(values, axis=1)] = 0.0  # always in the set
    return scores


@dataclass(frozen=True, eq=False)
class SetCalibration:
    """Sorted conformity scores of held-out rows, their method, and how many rows they came
    from.

    ``scores`` holds at most :data:`MAX_SCORES` values: with more calibration rows, evenly
    spaced order statistics of all ``n_rows`` scores (the smallest and the largest
    included); thresholds are read at the rank they have among all ``n_rows``, rounded up,
    so subsampling never shrinks a set.
    """

    method: str
    scores: np.ndarray
    n_rows: int

    @classmethod
    def from_probabilities(
        cls, proba: np.ndarray, codes: np.ndarray, method: str = "aps"
    ) -> SetCalibration:
        """The calibration of held-out rows' probabilities ``[rows, C]`` and class codes."""
        method = _check_method(method)
        values = as_probabilities(proba)
        labels = as_codes(codes, values.shape[1], len(values))
        if len(labels) == 0:
            raise DataError(
                "prediction sets need at least one held-out row to calibrate on; got none; "
                "train with validation rows"
            )
        scores = np.sort(_class_scores(values, method)[np.arange(len(labels)), labels])
        n_rows = len(scores)
        if n_rows > MAX_SCORES:
            ranks = np.round(np.linspace(0, n_rows - 1, MAX_SCORES)).astype(np.int64)
            scores = scores[ranks]
        return cls(method, scores, n_rows)

    @property
    def max_level(self) -> float:
        """The highest level with a finite threshold: ``n / (n + 1)``."""
        return self.n_rows / (self.n_rows + 1)

    def threshold(self, level: float) -> float:
        """The conformal quantile ``q`` of the scores at ``level``: classes scoring at most
        ``q`` are in a row's set."""
        return conformal_quantile(self.scores, self.n_rows, level, what="prediction set")

    def sets(self, proba: np.ndarray, level: float) -> np.ndarray:
        """Boolean ``[rows, C]``: which classes are in each row's set at ``level``."""
        q = self.threshold(level)
        values = as_probabilities(proba)
        members = _class_scores(values, self.method) <= q
        if self.method == "aps" and len(values):
            members[np.arange(len(values)), np.argmax(values, axis=1)] = True
        return members

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, stored in a saved model's ``metadata.json``."""
        return {
            "method": self.method,
            "n_rows": self.n_rows,
            "scores": [float(value) for value in self.scores],
        }

    @classmethod
    def from_dict(cls, document: Any) -> SetCalibration:
        """The calibration :meth:`to_dict` wrote; a ``ValueError`` if it is malformed."""
        if not isinstance(document, dict):
            raise ValueError("prediction set calibration is not an object")
        method = document.get("method")
        if method not in SET_METHODS:
            raise ValueError(f"unknown prediction set method {method!r}")
        n_rows = document.get("n_rows")
        raw = document.get("scores")
        if not isinstance(n_rows, int) or isinstance(n_rows, bool) or n_rows < 1:
            raise ValueError("prediction set calibration n_rows is not a positive integer")
        if not isinstance(raw, list) or not 1 <= len(raw) <= min(n_rows, MAX_SCORES):
            raise ValueError(
                f"prediction set scores are not a list of 1 to min(n_rows, {MAX_SCORES}) numbers"
            )
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
            raise ValueError("prediction set scores are not all numbers")
        scores = np.asarray(raw, dtype=np.float64)
        if not np.isfinite(scores).all() or (scores < -_SCORE_SLACK).any():
            raise ValueError("prediction set scores are not finite and non-negative")
        if (scores > 1.0 + _SCORE_SLACK).any():
            raise ValueError("prediction set scores are not at most 1")
        if (np.diff(scores) < 0).any():
            raise ValueError("prediction set scores are not sorted")
        return cls(str(method), scores, n_rows)


__all__ = ["MAX_SCORES", "SET_METHODS", "SetCalibration", "cumulative_mass"]
