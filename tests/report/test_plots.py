"""Every chart renders to a PNG data URI, without pyplot."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from matplotlib.figure import Figure

from deepfit.report import plots

rng = np.random.default_rng(0)
Y = rng.normal(size=50)
PREDICTED = Y + rng.normal(scale=0.1, size=50)
HISTORY = [
    {"epoch": e, "train_loss": 1 / e, "validation_loss": 1.2 / e if e > 1 else None}
    for e in range(1, 6)
]

FIGURES = {
    "predicted_vs_actual": lambda: plots.predicted_vs_actual(Y, PREDICTED, target="y"),
    "residuals": lambda: plots.residuals_vs_predicted(Y, PREDICTED, target="y"),
    "histogram": lambda: plots.residual_histogram(Y - PREDICTED, target="y"),
    "learning": lambda: plots.learning_curves(HISTORY, best_epoch=3),
    "learning_no_validation": lambda: plots.learning_curves(
        [{"epoch": 1, "train_loss": 1.0, "validation_loss": None}], best_epoch=None
    ),
    "intervals": lambda: plots.interval_figure(
        Y, PREDICTED, PREDICTED - 0.1, PREDICTED + 0.1, level=0.9
    ),
    "spread": lambda: plots.spread_figure(PREDICTED, np.abs(Y), target="y"),
    "bars": lambda: plots.bar_figure({"lr": 0.7, "dropout": 0.3}, title="t", xlabel="x"),
}


@pytest.mark.parametrize("name", FIGURES)
def test_each_chart_is_a_png_data_uri(name: str) -> None:
    figure = FIGURES[name]()
    assert isinstance(figure, Figure)
    uri = plots.data_uri(figure)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    assert base64.b64decode(uri[len(prefix) :], validate=True)[:8] == b"\x89PNG\r\n\x1a\n"


def test_large_data_is_thinned_for_scatter_plots() -> None:
    many = np.arange(plots.MAX_POINTS * 3, dtype=float)
    (thinned,) = plots._subset(many)
    assert len(thinned) == plots.MAX_POINTS
    assert thinned[0] == many[0]
    assert thinned[-1] == many[-1]
