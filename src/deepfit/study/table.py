"""A factor's runs summarised over seeds: mean and standard deviation per value.

The columns are the task's (:func:`study_metrics`): its test-split metrics, then how training
went. The standard deviation is the sample one (``ddof=1``), NaN with a single run. Runs that
diverged or failed have NaN metrics and are left out of the mean; the ``note`` column says
how many there were.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from deepfit.errors import ConfigError
from deepfit.tasks import TASKS

# column -> heading, in table order, after the test-split metrics: how training went
TRAINING: dict[str, str] = {
    "final_train_loss": "final train loss",
    "final_validation_loss": "final val. loss",
    "epochs": "epochs",
    "seconds": "seconds",
}
# the terminal table's training columns (the files have them all)
TRAINING_SHOWN = ("final_validation_loss", "epochs", "seconds")


@dataclass(frozen=True)
class StudyMetrics:
    """What a study of one task reports.

    ``test``: the test-split metrics of its tables (column -> heading, in order);
    ``headline``: the two a progress line and the plot show, the task's primary metric first;
    ``terminal``: the test metrics of the terminal table (the files have every one);
    ``in_target_units``: the metrics measured in the target's units (a plot's axis says so).
    """

    test: dict[str, str]
    headline: tuple[str, str]
    terminal: tuple[str, ...]
    in_target_units: frozenset[str] = frozenset()

    @property
    def columns(self) -> dict[str, str]:
        """Every metric column of the tables and CSVs, with its heading."""
        return {**self.test, **TRAINING}

    @property
    def shown(self) -> tuple[str, ...]:
        """The terminal table's columns."""
        return (*self.terminal, *TRAINING_SHOWN)


_CLASSIFICATION = TASKS["classification"]
# Per task. Regression keeps the study's own order and short headings; classification takes
# its metrics and their names from the task.
STUDY_METRICS: dict[str, StudyMetrics] = {
    "regression": StudyMetrics(
        test={
            "mse": "MSE",
            "rmse": "RMSE",
            "mae": "MAE",
            "r2": "R²",
            "explained_variance": "explained var.",
            "mape": "MAPE",
            "rmsle": "RMSLE",
        },
        headline=("rmse", "r2"),
        terminal=("rmse", "mae", "r2"),
        in_target_units=frozenset({"rmse", "mae"}),
    ),
    "classification": StudyMetrics(
        test=dict(_CLASSIFICATION.shown_metrics),
        headline=(_CLASSIFICATION.primary_metric, "accuracy"),
        terminal=(_CLASSIFICATION.primary_metric, "accuracy", "balanced_accuracy", "f1_macro"),
    ),
}


def study_metrics(task: str) -> StudyMetrics:
    """What a study of ``task`` (a name from ``deepfit.tasks.TASKS``) reports."""
    if task not in STUDY_METRICS:
        raise ConfigError(f"task must be one of {', '.join(STUDY_METRICS)}, however: {task!r}")
    return STUDY_METRICS[task]


def headline(row: Mapping[str, Any], task: str) -> str:
    """A run's two headline scores in words, e.g. ``"RMSE 3.217, R² 0.912"``.

    Example:
        >>> headline({"log_loss": 0.4137, "accuracy": 0.8125}, "classification")
        'log-loss 0.4137, accuracy 0.812'
    """
    metrics = study_metrics(task)
    primary, other = metrics.headline
    return (
        f"{metrics.test[primary]} {float(row[primary]):.4g}, "
        f"{metrics.test[other]} {float(row[other]):.3f}"
    )


def summarize(runs: pd.DataFrame, values: list[str], *, task: str) -> pd.DataFrame:
    """One row per value (in ``values`` order): runs, ``<metric>_mean``, ``<metric>_std``, note.

    Example:
        >>> runs = pd.DataFrame({"value": ["a", "a"], "mse": [1.0, 3.0], "note": ["", ""]})
        >>> summary = summarize(runs, ["a"], task="regression")
        >>> summary[["mse_mean", "mse_std"]].to_numpy().tolist()
        [[2.0, 1.4142135623730951]]
    """
    rows = []
    for value in values:
        group = runs[runs["value"] == value]
        row: dict[str, object] = {"value": value, "runs": len(group)}
        for metric in study_metrics(task).columns:
            scores = group[metric].to_numpy(dtype=np.float64) if metric in group else np.array([])
            finite = scores[np.isfinite(scores)]
            row[f"{metric}_mean"] = float(finite.mean()) if len(finite) else math.nan
            row[f"{metric}_std"] = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
        row["note"] = _note(group["note"].fillna("").astype(str).tolist())
        rows.append(row)
    return pd.DataFrame(rows)


def _note(notes: list[str]) -> str:
    diverged = sum(note.startswith("diverged") for note in notes)
    failed = [note for note in notes if note.startswith("failed")]
    parts = []
    if diverged:
        parts.append(f"{diverged}/{len(notes)} diverged")
    if failed:
        parts.append(f"{len(failed)}/{len(notes)} {failed[0]}")
    return "; ".join(parts)


def cell(mean: float, std: float) -> str:
    """``"1.234 ± 0.05"``; just the mean without a std; ``"n/a"`` without a value."""
    if not math.isfinite(mean):
        return "n/a"
    if not math.isfinite(std):
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {std:.2g}"


def cells(summary: pd.DataFrame, *, task: str) -> list[list[str]]:
    """The summary as text cells: value, one mean ± std per metric, runs, note."""
    metrics = study_metrics(task).columns
    return [
        [
            str(row["value"]),
            *(cell(row[f"{metric}_mean"], row[f"{metric}_std"]) for metric in metrics),
            str(row["runs"]),
            str(row["note"]),
        ]
        for _, row in summary.iterrows()
    ]


def headings(factor: str, *, task: str) -> list[str]:
    return [factor, *study_metrics(task).columns.values(), "runs", "notes"]


def markdown_table(factor: str, summary: pd.DataFrame, *, task: str) -> str:
    """The summary as a GitHub markdown table (test-split metrics, mean ± std over seeds)."""
    width = len(study_metrics(task).columns)
    lines = ["| " + " | ".join(headings(factor, task=task)) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (width + 1) + ["---"]) + "|")
    for row in cells(summary, task=task):
        lines.append("| " + " | ".join(text.replace("|", "\\|") for text in row) + " |")
    return "\n".join(lines) + "\n"


def rich_table(factor: str, summary: pd.DataFrame, *, seeds: int, task: str) -> Table:
    """The main columns of the summary as a Rich table for the terminal."""
    metrics = study_metrics(task)
    table = Table(title=f"{factor}: test metrics, mean ± std over {seeds} seed(s)")
    table.add_column(factor)
    for metric in metrics.shown:
        table.add_column(metrics.columns[metric], justify="right")
    table.add_column("notes")
    for _, row in summary.iterrows():
        shown = (cell(row[f"{metric}_mean"], row[f"{metric}_std"]) for metric in metrics.shown)
        table.add_row(str(row["value"]), *shown, str(row["note"]))
    return table
