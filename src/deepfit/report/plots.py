"""The report's charts as PNG data URIs, drawn with matplotlib's Agg backend.

Figures are built with :class:`matplotlib.figure.Figure` and rendered by
:func:`deepfit.explain.plots.png_bytes` (an Agg canvas), so nothing touches pyplot's global
state or the user's configured backend.

Example:
    >>> import numpy as np
    >>> uri = data_uri(predicted_vs_actual(np.arange(5.0), np.arange(5.0), target="y"))
    >>> uri.startswith("data:image/png;base64,")
    True
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from deepfit.explain.plots import BAR_COLOUR, png_bytes

MAX_POINTS = 5_000  # scatter plots draw an evenly spaced subset of larger data
SIZE = (5.5, 4.0)


def data_uri(figure: Figure) -> str:
    """``figure`` as a ``data:image/png;base64,...`` URI, to embed in an ``<img>``."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(figure)).decode("ascii")


def _subset(*arrays: np.ndarray) -> list[np.ndarray]:
    n_rows = len(arrays[0])
    if n_rows <= MAX_POINTS:
        return list(arrays)
    keep = np.linspace(0, n_rows - 1, MAX_POINTS).astype(np.int64)
    return [array[keep] for array in arrays]


def predicted_vs_actual(y: np.ndarray, predicted: np.ndarray, *, target: str) -> Figure:
    """Each row's prediction against its actual value, with the diagonal y = x."""
    actual, shown = _subset(np.asarray(y, float), np.asarray(predicted, float))
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    axes.scatter(actual, shown, s=8, alpha=0.5, color=BAR_COLOUR)
    low = float(min(actual.min(), shown.min()))
    high = float(max(actual.max(), shown.max()))
    axes.plot([low, high], [low, high], color="black", linewidth=1, label="predicted = actual")
    axes.set_xlabel(f"actual {target}")
    axes.set_ylabel(f"predicted {target}")
    axes.set_title("Predicted vs actual")
    axes.legend(loc="upper left")
    return figure


def residuals_vs_predicted(y: np.ndarray, predicted: np.ndarray, *, target: str) -> Figure:
    """Residuals (actual - predicted) against the prediction, with the zero line."""
    actual, shown = _subset(np.asarray(y, float), np.asarray(predicted, float))
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    axes.scatter(shown, actual - shown, s=8, alpha=0.5, color=BAR_COLOUR)
    axes.axhline(0.0, color="black", linewidth=1)
    axes.set_xlabel(f"predicted {target}")
    axes.set_ylabel("residual (actual - predicted)")
    axes.set_title("Residuals vs predicted")
    return figure


def residual_histogram(residuals: np.ndarray, *, target: str) -> Figure:
    """The distribution of residuals (actual - predicted)."""
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    values = np.asarray(residuals, float)
    axes.hist(values, bins=min(50, max(5, len(values) // 10)), color=BAR_COLOUR)
    axes.axvline(0.0, color="black", linewidth=1)
    axes.set_xlabel(f"residual ({target} units)")
    axes.set_ylabel("rows")
    axes.set_title("Residual histogram")
    return figure


def learning_curves(history: list[dict[str, Any]], *, best_epoch: int | None) -> Figure:
    """Train and validation loss per epoch (standardised target), the best epoch marked."""
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    epochs = [record["epoch"] for record in history]
    axes.plot(epochs, [record["train_loss"] for record in history], label="train")
    validation = [
        (record["epoch"], record["validation_loss"])
        for record in history
        if record.get("validation_loss") is not None
    ]
    if validation:
        axes.plot(*zip(*validation, strict=True), label="validation")
    if best_epoch is not None:
        axes.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch {best_epoch}")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (standardised target)")
    axes.set_title("Learning curves")
    axes.legend()
    return figure


def interval_figure(
    y: np.ndarray, predicted: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, level: float
) -> Figure:
    """Rows sorted by prediction: the interval as a band, actual values as points."""
    order = np.argsort(np.asarray(predicted, float), kind="stable")
    actual, shown, low, high = _subset(
        np.asarray(y, float)[order],
        np.asarray(predicted, float)[order],
        np.asarray(lower, float)[order],
        np.asarray(upper, float)[order],
    )
    rank = np.arange(len(shown))
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    axes.fill_between(rank, low, high, color=BAR_COLOUR, alpha=0.25, label=f"{level:.0%} interval")
    axes.plot(rank, shown, color=BAR_COLOUR, linewidth=1, label="prediction")
    outside = (actual < low) | (actual > high)
    axes.scatter(rank[~outside], actual[~outside], s=6, color="black", label="actual, inside")
    axes.scatter(rank[outside], actual[outside], s=10, color="#C44E52", label="actual, outside")
    axes.set_xlabel("rows, sorted by prediction")
    axes.set_ylabel("value")
    axes.set_title("Prediction intervals")
    axes.legend(loc="upper left", fontsize="small")
    return figure


def spread_figure(predicted: np.ndarray, spread: np.ndarray, *, target: str) -> Figure:
    """The ensemble members' spread (disagreement) of each row against its prediction."""
    shown, spreads = _subset(np.asarray(predicted, float), np.asarray(spread, float))
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    axes.scatter(shown, spreads, s=8, alpha=0.5, color=BAR_COLOUR)
    axes.set_xlabel(f"predicted {target}")
    axes.set_ylabel("spread between members")
    axes.set_title("Ensemble spread")
    return figure


def bar_figure(values: dict[str, float], *, title: str, xlabel: str) -> Figure:
    """Horizontal bars, largest on top (used for the search's parameter importances)."""
    items = sorted(values.items(), key=lambda item: item[1])
    figure = Figure(figsize=(5.5, 1.0 + 0.35 * len(items)))
    axes = figure.add_subplot()
    axes.barh([name for name, _ in items], [value for _, value in items], color=BAR_COLOUR)
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    return figure


def search_history(records: list[dict[str, Any]]) -> Figure:
    """Each finished trial's validation RMSE by trial number, and the best so far."""
    done = [
        (int(r["trial"]), float(r["value"]))
        for r in records
        if r.get("state") == "complete" and isinstance(r.get("value"), int | float)
    ]
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    if done:
        trials, values = zip(*sorted(done), strict=True)
        axes.scatter(trials, values, s=14, color=BAR_COLOUR, label="trial")
        axes.step(trials, np.minimum.accumulate(values), where="post", color="black", label="best")
        axes.legend()
    pruned = sum(1 for r in records if r.get("state") == "pruned")
    axes.set_xlabel("trial")
    axes.set_ylabel("validation RMSE")
    axes.set_title(f"Search history ({len(done)} complete, {pruned} pruned)")
    return figure
