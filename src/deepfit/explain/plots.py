"""PNG charts of an explanation, drawn with matplotlib's Agg backend (no display needed).

Figures are built with :class:`matplotlib.figure.Figure` and an Agg canvas directly, so
nothing touches pyplot's global state or the user's configured backend.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from deepfit.data.date_text import read_dates
from deepfit.data.preprocess import DATE_UNIT

BAR_COLOUR = "#4C72B0"
MAX_FEATURES = 20  # longest chart: the most important columns only
DPI = 100


def png_bytes(figure: Figure) -> bytes:
    """``figure`` rendered as PNG bytes by the Agg backend.

    Example:
        >>> png_bytes(Figure())[:4]
        b'\\x89PNG'
    """
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def importance_figure(importance: pd.DataFrame, *, target: str) -> Figure:
    """Horizontal bars: permutation importance (increase in RMSE), with ± one std."""
    shown = importance.head(MAX_FEATURES).iloc[::-1]
    figure = Figure(figsize=(6.0, 1.0 + 0.35 * len(shown)))
    axes = figure.add_subplot()
    axes.barh(
        shown["feature"].astype(str),
        shown["importance_mean"],
        xerr=shown["importance_std"],
        color=BAR_COLOUR,
        capsize=3,
    )
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel(f"increase in RMSE when shuffled ({target} units)")
    axes.set_title("Permutation importance")
    return figure


def dependence_figure(curve: pd.DataFrame, *, feature: str, role: str, target: str) -> Figure:
    """The partial-dependence curve of one feature: a line over numbers/dates, else points."""
    figure = Figure(figsize=(6.0, 4.0))
    axes = figure.add_subplot()
    values = curve["value"].tolist()
    means = curve["average_prediction"].to_numpy(dtype=np.float64)
    if role in {"numeric", "datetime"}:
        x = pd.to_datetime(values) if role == "datetime" else np.asarray(values, dtype=np.float64)
        axes.plot(x, means, marker="o", color=BAR_COLOUR)
        if role == "datetime":
            figure.autofmt_xdate()
    else:
        labels = [str(value) for value in values]
        axes.plot(labels, means, marker="o", linestyle="none", markersize=8, color=BAR_COLOUR)
        if len(labels) > 6:
            axes.tick_params(axis="x", labelrotation=45)
    axes.set_xlabel(feature)
    axes.set_ylabel(f"average predicted {target}")
    axes.set_title(f"Partial dependence on {feature}")
    return figure


def attributions_figure(
    attributions: pd.DataFrame, rows: pd.DataFrame, roles: dict[str, str], *, target: str
) -> Figure:
    """A beeswarm-like strip per feature: each row's attribution, coloured by the feature value.

    Features are ordered by mean |attribution|; numeric, boolean and date values are coloured
    from low (blue) to high (red) by rank within the column; categories are grey.
    """
    order = attributions.abs().mean().sort_values(ascending=False).index[:MAX_FEATURES]
    figure = Figure(figsize=(7.0, 1.0 + 0.45 * len(order)))
    axes = figure.add_subplot()
    jitter = np.random.default_rng(0)
    scatter = None
    for position, feature in enumerate(reversed(list(order))):
        values = attributions[feature].to_numpy(dtype=np.float64)
        y = position + jitter.uniform(-0.25, 0.25, size=len(values))
        colour = _value_rank(rows[feature], roles.get(feature, "numeric"))
        if colour is None:
            axes.scatter(values, y, s=8, color="grey", alpha=0.6)
        else:
            scatter = axes.scatter(values, y, s=8, c=colour, cmap="coolwarm", vmin=0, vmax=1)
    axes.set_yticks(range(len(order)), [str(name) for name in reversed(list(order))])
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel(f"integrated-gradients attribution ({target} units)")
    axes.set_title("Per-prediction attributions")
    if scatter is not None:
        bar = figure.colorbar(scatter, ax=axes, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value")
    return figure


def _value_rank(column: pd.Series, role: str) -> np.ndarray | None:
    """Values scaled to [0, 1] by rank (missing at 0.5); None for categories."""
    if role == "categorical":
        return None
    numbers: pd.Series
    if role == "datetime":
        values = read_dates(column)
        moments = values.dt.tz_localize(None).astype(DATE_UNIT).astype("int64")
        numbers = pd.Series(moments, index=column.index).where(values.notna())
    elif role == "boolean":
        text = column.astype("string").str.strip().str.lower()
        numbers = text.isin({"true", "yes", "y", "t", "1", "1.0"}).astype("float64")
        numbers = numbers.where(column.notna())
    else:
        numbers = pd.to_numeric(column, errors="coerce")
    ranks = numbers.rank(pct=True).to_numpy(dtype=np.float64)
    return np.where(np.isnan(ranks), 0.5, ranks)
