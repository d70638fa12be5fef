"""One PNG per factor: the task's two headline test metrics against the factor's values,
± one std over seeds (regression: RMSE and R²; classification: log-loss and accuracy).

Drawn with :class:`matplotlib.figure.Figure` on an Agg canvas, so pyplot's global state and
the user's backend are left alone. Numeric values get a numeric x-axis (logarithmic when
they are positive and span two decades or more); anything else is categorical.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from deepfit.study.table import study_metrics

COLOUR = "#4C72B0"


def numeric_values(values: list[Any]) -> np.ndarray | None:
    """The values as floats when all are numbers (not bools), else None."""
    if not values or not all(
        isinstance(value, int | float | np.number) and not isinstance(value, bool)
        for value in values
    ):
        return None
    return np.asarray(values, dtype=np.float64)


def uses_log_axis(x: np.ndarray) -> bool:
    """Positive values whose largest is at least 100 times the smallest."""
    return bool(len(x) > 1 and (x > 0).all() and x.max() / x.min() >= 100)


def factor_figure(
    name: str, values: list[Any], summary: pd.DataFrame, *, target: str, task: str
) -> Figure:
    """The ``task``'s two headline metrics (mean ± std over seeds) against the values of
    factor ``name``."""
    figure = Figure(figsize=(10.0, 4.0))
    x = numeric_values(values)
    labels = summary["value"].astype(str).tolist()
    metrics = study_metrics(task)
    for index, metric in enumerate(metrics.headline, start=1):
        title = f"test {metrics.test[metric]}"
        axes = figure.add_subplot(1, len(metrics.headline), index)
        means = summary[f"{metric}_mean"].to_numpy(dtype=np.float64)
        stds = np.nan_to_num(summary[f"{metric}_std"].to_numpy(dtype=np.float64))
        if x is not None:
            axes.errorbar(x, means, yerr=stds, marker="o", capsize=4, color=COLOUR)
            if uses_log_axis(x):
                axes.set_xscale("log")
        else:
            positions = np.arange(len(labels))
            axes.errorbar(
                positions, means, yerr=stds, marker="o", linestyle="none", capsize=4, color=COLOUR
            )
            axes.set_xticks(positions, labels, rotation=30 if len(labels) > 4 else 0)
        _mark_missing(axes, x if x is not None else np.arange(len(labels)), means)
        axes.set_xlabel(name)
        units = metric in metrics.in_target_units
        axes.set_ylabel(f"{title} ({target} units)" if units else title)
        axes.set_title(f"{title} vs {name}")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _mark_missing(axes: Any, x: np.ndarray, means: np.ndarray) -> None:
    """An ``x`` at the bottom of the panel for values with no finite result (diverged)."""
    missing = [position for position, mean in zip(x, means, strict=True) if not math.isfinite(mean)]
    if missing:
        axes.plot(
            missing,
            [0.0] * len(missing),
            marker="x",
            linestyle="none",
            color="crimson",
            transform=axes.get_xaxis_transform(),
            clip_on=False,
            label="diverged",
        )
        axes.legend(loc="best")
