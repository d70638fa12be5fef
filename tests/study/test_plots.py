"""The per-factor figure: numeric or categorical x, log scale across decades."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from deepfit.explain.plots import png_bytes
from deepfit.study.plots import factor_figure, numeric_values, uses_log_axis


def summary(labels: list[str]) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame(
        {
            "value": labels,
            "rmse_mean": [1.0] * (n - 1) + [math.nan],
            "rmse_std": [0.1] * n,
            "r2_mean": [0.5] * (n - 1) + [math.nan],
            "r2_std": [math.nan] * n,
        }
    )


def test_learning_rates_spanning_decades_get_a_log_axis() -> None:
    values = [0.01, 0.1, 1.0, 10.0]
    figure = factor_figure("learning_rate", values, summary(["0.01", "0.1", "1", "10"]), target="y")
    assert [axes.get_xscale() for axes in figure.axes] == ["log", "log"]
    assert png_bytes(figure)[:8] == b"\x89PNG\r\n\x1a\n"


def test_widths_are_linear_and_strings_categorical() -> None:
    assert not uses_log_axis(np.array([32.0, 64.0, 128.0]))
    assert numeric_values(["relu", "gelu"]) is None
    assert numeric_values([True, False]) is None
    figure = factor_figure("activation", ["relu", "gelu"], summary(["relu", "gelu"]), target="y")
    labels = [tick.get_text() for tick in figure.axes[0].get_xticklabels()]
    assert labels == ["relu", "gelu"]
    assert png_bytes(figure)[:4] == b"\x89PNG"
