"""Mean and std over seeds, and the markdown and Rich tables, with each task's metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from deepfit.study.table import headline, markdown_table, rich_table, study_metrics, summarize
from deepfit.tasks import TASKS


def runs(task: str = "regression", first: str = "mse") -> pd.DataFrame:
    rows = []
    for value, score, note in [
        ("a", 1.0, ""),
        ("a", 3.0, ""),
        ("b", 5.0, ""),
        ("b", math.nan, "diverged: x"),
    ]:
        row: dict[str, object] = {metric: score * 2 for metric in study_metrics(task).columns}
        row.update({"value": value, first: score, "note": note})
        rows.append(row)
    return pd.DataFrame(rows)


def test_mean_and_sample_std_over_seeds_leaving_out_diverged_runs() -> None:
    summary = summarize(runs(), ["a", "b"], task="regression")
    assert summary["value"].tolist() == ["a", "b"]
    assert summary["mse_mean"].tolist() == [2.0, 5.0]
    assert summary.loc[0, "mse_std"] == pytest.approx(np.std([1.0, 3.0], ddof=1))
    assert math.isnan(summary.loc[1, "mse_std"])  # one finite run: no spread
    assert summary["runs"].tolist() == [2, 2]
    assert summary["note"].tolist() == ["", "1/2 diverged"]


def test_markdown_has_every_metric_and_one_row_per_value() -> None:
    summary = summarize(runs(), ["a", "b"], task="regression")
    text = markdown_table("learning_rate", summary, task="regression")
    lines = text.strip().splitlines()
    assert len(lines) == 2 + 2
    for heading in ["MSE", "RMSE", "MAE", "R²", "explained var.", "MAPE", "RMSLE", "seconds"]:
        assert f"| {heading} |" in lines[0]
    assert lines[2].startswith("| a | 2 ± 1.4 |")


def test_rich_table_renders() -> None:
    console = Console(width=120, record=True)
    summary = summarize(runs(), ["a", "b"], task="regression")
    console.print(rich_table("width", summary, seeds=2, task="regression"))
    assert "width" in console.export_text()


def test_classification_tables_show_its_metrics_and_no_regression_ones() -> None:
    summary = summarize(runs("classification", "log_loss"), ["a", "b"], task="classification")
    assert summary["log_loss_mean"].tolist() == [2.0, 5.0]
    assert {"accuracy_mean", "roc_auc_std", "epochs_mean", "seconds_mean"} <= set(summary)
    assert not any(column.startswith(("rmse", "r2", "mse")) for column in summary)
    header = markdown_table("width", summary, task="classification").splitlines()[0]
    for heading in ["accuracy", "balanced accuracy", "log-loss", "Brier score", "ROC AUC"]:
        assert f"| {heading} |" in header
    assert "| macro F1 |" in header
    assert "RMSE" not in header
    console = Console(width=160, record=True)
    console.print(rich_table("width", summary, seeds=2, task="classification"))
    shown = console.export_text()
    assert "log-loss" in shown
    assert "accuracy" in shown
    assert "RMSE" not in shown


def test_progress_names_each_task_headline_metrics() -> None:
    assert headline({"rmse": 12.3456, "r2": 0.91234}, "regression") == "RMSE 12.35, R² 0.912"
    row = {"log_loss": 0.41371, "accuracy": 0.8125}
    assert headline(row, "classification") == "log-loss 0.4137, accuracy 0.812"


def test_every_task_has_study_metrics_it_computes() -> None:
    for name, task in TASKS.items():
        metrics = study_metrics(name)
        assert metrics.headline[0] == task.primary_metric
        assert set(metrics.test) <= set(task.shown_metrics)
        assert set(metrics.headline) | set(metrics.terminal) <= set(metrics.test)
