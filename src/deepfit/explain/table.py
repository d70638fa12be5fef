"""The terminal view of an explanation: one Rich table, most important feature first."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    table = Table(
        title=(
            f"What drives '{explanation.target}' (RMSE {format_value('rmse', explanation.rmse)} "
            f"on {explanation.labelled_rows} rows)"
        ),
        title_justify="left",
    )
    table.add_column("feature")
    table.add_column("role")
    table.add_column("permutation ΔRMSE", justify="right")
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
            f"{format_value('rmse', float(mean))} ± {format_value('rmse', float(std))}",
            format_value("rmse", float(attribution)),
        )
    return table


def explanation_notes(explanation: Explanation) -> list[str]:
    """The lines under the table that say what its numbers mean."""
    return [
        "permutation ΔRMSE: increase in RMSE when the column is shuffled (mean ± std over "
        "repeats, all rows)",
        f"mean |IG|: mean absolute integrated-gradients attribution over "
        f"{len(explanation.attributions)} rows; a row's attributions add up to its prediction "
        f"minus the baseline prediction {format_value('rmse', explanation.baseline_prediction)}",
    ]
