"""Conformal forecast intervals, one width per horizon step.

The score of a held-out window's step is its absolute error divided by its series' scale,
so series of different sizes share one calibration. Step ``h``'s interval at ``level`` is
the forecast plus or minus the conformal quantile of step ``h``'s scores, times the series'
scale: errors grow with the horizon, and so do the intervals. At most :data:`KEPT` order
statistics per step are stored, so the model file stays small.

Example:
    >>> scores = np.tile(np.arange(1.0, 100.0)[:, None], (1, 2)) * [1.0, 2.0]
    >>> StepConformal.from_scores(scores).half_widths(0.9).tolist()
    [90.0, 180.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepfit.errors import ConfigError
from deepfit.evaluation.intervals import conformal_quantile

KEPT = 201


@dataclass
class StepConformal:
    """Sorted nonconformity scores of each horizon step (evenly spaced order statistics)."""

    kept: list[np.ndarray]
    counts: list[int]

    @classmethod
    def from_scores(cls, scores: np.ndarray) -> StepConformal:
        """From ``[windows, horizon]`` scores; NaN (a step not observed) is left out."""
        kept, counts = [], []
        for step in range(scores.shape[1]):
            column = np.sort(scores[:, step][np.isfinite(scores[:, step])])
            if len(column) == 0:
                raise ConfigError(
                    f"no held-out window observes horizon step {step + 1}, so intervals cannot "
                    "be calibrated; give longer series or a shorter horizon"
                )
            if len(column) > KEPT:
                column = column[np.round(np.linspace(0, len(column) - 1, KEPT)).astype(int)]
            kept.append(column)
            counts.append(int(np.isfinite(scores[:, step]).sum()))
        return cls(kept, counts)

    def half_widths(self, level: float) -> np.ndarray:
        """``[horizon]`` half-widths in scaled units for a central ``level`` interval."""
        return np.array(
            [
                conformal_quantile(kept, count, level, what="forecast interval")
                for kept, count in zip(self.kept, self.counts, strict=True)
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "conformal_per_step",
            "kept": [column.tolist() for column in self.kept],
            "counts": self.counts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepConformal:
        """:meth:`to_dict` reversed; a malformed document raises ``ValueError``."""
        kept = [np.asarray(column, dtype=np.float64) for column in data["kept"]]
        counts = [int(count) for count in data["counts"]]
        if len(kept) != len(counts) or not kept:
            raise ValueError("interval calibration steps do not match")
        for column, count in zip(kept, counts, strict=True):
            if column.ndim != 1 or not 0 < len(column) <= min(count, KEPT):
                raise ValueError("interval calibration has a malformed step")
            if not np.all(np.isfinite(column)) or np.any(np.diff(column) < 0) or column[0] < 0:
                raise ValueError("interval calibration scores must be sorted finite numbers")
        return cls(kept, counts)
