"""The per-factor figure: numeric or categorical x, log scale across decades."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from deepfit.explain.plots import png_bytes
from deepfit.study.plots import factor_figure, numeric_values, uses_log_axis


def summary(labels: list[str], metrics: tuple[str, str] = ("rmse", "r2")) -> pd.DataFrame:
    n = len(labels)
    first, second = metrics
    return pd.DataFrame(
        {
            "value": labels,
            f"{first}_mean": [1.0] * (n - 1) + [math.nan],
            f"{first}_std": [0.1] * n,
            f"{second}_mean": [0.5] * (n - 1) + [math.nan],
            f"{second}_std": [math.nan] * n,
        }
    )


def test_learning_rates_spanning_decades_get_a_log_axis() -> None:
    values = [0.01, 0.1, 1.0, 10.0]
    figure = factor_figure(
        "learning_rate", values, summary(["0.01", "0.1", "1", "10"]), target="y", task="regression"
    )
    assert [axes.get_xscale() for axes in figure.axes] == ["log", "log"]
    assert png_bytes(figure)[:8] == b"\x89PNG\r\n\x1a\n"


def test_widths_are_linear_and_strings_categorical() -> None:
    assert not uses_log_axis(np.array([32.0, 64.0, 128.0]))
    assert numeric_values(["relu", "gelu"]) is None
    assert numeric_values([True, False]) is None
    figure = factor_figure(
        "activation", ["relu", "gelu"], summary(["relu", "gelu"]), target="y", task="regression"
    )
    labels = [tick.get_text() for tick in figure.axes[0].get_xticklabels()]
    assert labels == ["relu", "gelu"]
    assert png_bytes(figure)[:4] == b"\x89PNG"


def test_each_task_plots_its_primary_metric_and_one_more_with_units_where_they_apply() -> None:
    values = [0.0, 0.1]
    regression = factor_figure(
        "dropout", values, summary(["0", "0.1"]), target="price", task="regression"
    )
    assert [axes.get_ylabel() for axes in regression.axes] == ["test RMSE (price units)", "test R²"]
    table = summary(["0", "0.1"], ("log_loss", "accuracy"))
    classification = factor_figure(
        "label_smoothing", values, table, target="kind", task="classification"
    )
    assert [axes.get_ylabel() for axes in classification.axes] == ["test log-loss", "test accuracy"]
    assert classification.axes[0].get_title() == "test log-loss vs label_smoothing"
