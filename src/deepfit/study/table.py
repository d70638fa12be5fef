"""A factor's runs summarised over seeds: mean and standard deviation per value.

The standard deviation is the sample one (``ddof=1``), NaN with a single run. Runs that
diverged or failed have NaN metrics and are left out of the mean; the ``note`` column says
how many there were.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from rich.table import Table

# column -> heading, in table order: test-split metrics, then how training went
METRICS: dict[str, str] = {
    "mse": "MSE",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "explained_variance": "explained var.",
    "mape": "MAPE",
    "rmsle": "RMSLE",
    "final_train_loss": "final train loss",
    "final_validation_loss": "final val. loss",
    "epochs": "epochs",
    "seconds": "seconds",
}


def summarize(runs: pd.DataFrame, values: list[str]) -> pd.DataFrame:
    """One row per value (in ``values`` order): runs, ``<metric>_mean``, ``<metric>_std``, note.

    Example:
        >>> runs = pd.DataFrame({"value": ["a", "a"], "mse": [1.0, 3.0], "note": ["", ""]})
        >>> summarize(runs, ["a"])[["mse_mean", "mse_std"]].to_numpy().tolist()
        [[2.0, 1.4142135623730951]]
    """
    rows = []
    for value in values:
        group = runs[runs["value"] == value]
        row: dict[str, object] = {"value": value, "runs": len(group)}
        for metric in METRICS:
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


def cells(summary: pd.DataFrame) -> list[list[str]]:
    """The summary as text cells: value, one mean ± std per metric, runs, note."""
    return [
        [
            str(row["value"]),
            *(cell(row[f"{metric}_mean"], row[f"{metric}_std"]) for metric in METRICS),
            str(row["runs"]),
            str(row["note"]),
        ]
        for _, row in summary.iterrows()
    ]


def headings(factor: str) -> list[str]:
    return [factor, *METRICS.values(), "runs", "notes"]


def markdown_table(factor: str, summary: pd.DataFrame) -> str:
    """The summary as a GitHub markdown table (test-split metrics, mean ± std over seeds)."""
    lines = ["| " + " | ".join(headings(factor)) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(METRICS) + 1) + ["---"]) + "|")
    for row in cells(summary):
        lines.append("| " + " | ".join(text.replace("|", "\\|") for text in row) + " |")
    return "\n".join(lines) + "\n"


# the terminal table's columns; the files have every metric
SHOWN = ("rmse", "mae", "r2", "final_validation_loss", "epochs", "seconds")


def rich_table(factor: str, summary: pd.DataFrame, *, seeds: int) -> Table:
    """The main columns of the summary as a Rich table for the terminal."""
    table = Table(title=f"{factor}: test metrics, mean ± std over {seeds} seed(s)")
    table.add_column(factor)
    for metric in SHOWN:
        table.add_column(METRICS[metric], justify="right")
    table.add_column("notes")
    for _, row in summary.iterrows():
        shown = (cell(row[f"{metric}_mean"], row[f"{metric}_std"]) for metric in SHOWN)
        table.add_row(str(row["value"]), *shown, str(row["note"]))
    return table
