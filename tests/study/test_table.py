"""Mean and std over seeds, and the markdown and Rich tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from deepfit.study.table import METRICS, markdown_table, rich_table, summarize


def runs() -> pd.DataFrame:
    rows = []
    for value, mse, note in [
        ("a", 1.0, ""),
        ("a", 3.0, ""),
        ("b", 5.0, ""),
        ("b", math.nan, "diverged: x"),
    ]:
        row = {metric: mse * 2 for metric in METRICS}
        row.update(value=value, mse=mse, note=note)
        rows.append(row)
    return pd.DataFrame(rows)


def test_mean_and_sample_std_over_seeds_leaving_out_diverged_runs() -> None:
    summary = summarize(runs(), ["a", "b"])
    assert summary["value"].tolist() == ["a", "b"]
    assert summary["mse_mean"].tolist() == [2.0, 5.0]
    assert summary.loc[0, "mse_std"] == pytest.approx(np.std([1.0, 3.0], ddof=1))
    assert math.isnan(summary.loc[1, "mse_std"])  # one finite run: no spread
    assert summary["runs"].tolist() == [2, 2]
    assert summary["note"].tolist() == ["", "1/2 diverged"]


def test_markdown_has_every_metric_and_one_row_per_value() -> None:
    text = markdown_table("learning_rate", summarize(runs(), ["a", "b"]))
    lines = text.strip().splitlines()
    assert len(lines) == 2 + 2
    for heading in ["MSE", "RMSE", "MAE", "R²", "explained var.", "MAPE", "RMSLE", "seconds"]:
        assert f"| {heading} |" in lines[0]
    assert lines[2].startswith("| a | 2 ± 1.4 |")


def test_rich_table_renders() -> None:
    console = Console(width=120, record=True)
    console.print(rich_table("width", summarize(runs(), ["a", "b"]), seeds=2))
    assert "width" in console.export_text()
