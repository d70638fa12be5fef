"""The terminal view of an explanation: one Rich table, most important feature first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.table import Table

from deepfit.report.console import format_value

if TYPE_CHECKING:
    from deepfit.explain.explanation import Explanation


def explanation_table(explanation: Explanation) -> Table:
    """Feature, role, permutation importance (mean ± std) and mean |IG attribution|.

    Example:
        >>> from rich.console import Console
        >>> Console().print(explanation_table(explain(model, X, y)))  # doctest: +SKIP
    """
    metric, label = explanation.metric, _label(explanation.metric)
    table = Table(
        title=(
            f"What drives '{explanation.target}' ({label} "
            f"{format_value(metric, explanation.score)} on {explanation.labelled_rows} rows)"
        ),
        title_justify="left",
    )
    table.add_column("feature")
    table.add_column("role")
    table.add_column(f"permutation Δ{label}", justify="right")
    table.add_column("mean |IG|", justify="right")
    importance = explanation.importance
    for feature, role, mean, std, attribution in zip(
        importance["feature"].astype(str),
        importance["role"].astype(str),
        importance["importance_mean"].to_numpy(dtype=float),
        importance["importance_std"].to_numpy(dtype=float),
        importance["mean_abs_attribution"].to_numpy(dtype=float),
        strict=True,
    ):
        table.add_row(
            feature,
            role,
            f"{format_value(metric, float(mean))} ± {format_value(metric, float(std))}",
            format_value(metric, float(attribution)),
        )
    return table


def explanation_notes(explanation: Explanation) -> list[str]:
    """The lines under the table that say what its numbers mean."""
    label = _label(explanation.metric)
    baseline = explanation.baseline_prediction
    if np.ndim(baseline) == 0:
        what = (
            f"its prediction minus the baseline prediction {format_value('rmse', float(baseline))}"
        )
    else:
        what = (
            "the probability of its predicted class minus the baseline row's probability of "
            "that class"
        )
    return [
        f"permutation Δ{label}: increase in {label} when the column is shuffled (mean ± std "
        f"over repeats, {_shuffled(explanation)})",
        f"mean |IG|: mean absolute integrated-gradients attribution over "
        f"{len(explanation.attributions)} rows; a row's attributions add up to {what}",
    ]


def _shuffled(explanation: Explanation) -> str:
    rows = explanation.importance_rows
    return f"{rows:,} of the {explanation.labelled_rows:,} rows" if rows else "all rows"


def _label(metric: str) -> str:
    return {"rmse": "RMSE", "log_loss": "log-loss"}.get(metric, metric)
