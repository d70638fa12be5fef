"""``write_backtest_report``: a forecasting backtest as one self-contained HTML page.

Sections: the metrics of deepfit beside the baselines with the intervals' coverage, deepfit's
forecast from the last origin against the actual values (with the interval band, for up to
three series), the mean absolute error by horizon step, and the training summary. Every chart
is an embedded PNG; the page loads nothing else and runs no scripts.

Example:
    >>> result = backtest(Forecaster(horizon=24), frame, target="load", time="timestamp",
    ...                   windows=4)  # doctest: +SKIP
    >>> write_backtest_report(result, frame, Path("bt.html"), target="load",
    ...                       time="timestamp", series=None)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from deepfit.explain.plots import BAR_COLOUR
from deepfit.files import atomic_writer, check_writable
from deepfit.kinds.series.panel import parse_times
from deepfit.report.html import Section, image, paragraph, render_page, table
from deepfit.report.plots import data_uri

if TYPE_CHECKING:
    from deepfit.estimator.backtest import Backtest

MODEL = "deepfit"
SHOWN = (
    ("mae", "MAE"),
    ("rmse", "RMSE"),
    ("smape", "sMAPE %"),
    ("mape", "MAPE %"),
    ("mase", "MASE"),
)
MAX_SERIES = 3  # forecast plots for this many series at most (the first ids)
CONTEXT = 3  # history drawn before the origin, in horizons
TRAINING = ("epochs", "best_epoch", "seconds", "stop_reason", "train_windows", "device")


def write_backtest_report(
    result: Backtest,
    history: pd.DataFrame | None,
    path: Path,
    *,
    target: str,
    time: str,
    series: str | None,
    overwrite: bool = False,
) -> Path:
    """Write the backtest's HTML page to ``path`` atomically (UTF-8) and return the path.

    ``history`` (the backtested rows, optional) supplies the values drawn before the last
    origin; without it they come from the earlier origins' actual values. An existing file is
    replaced only with ``overwrite=True`` (checked before any work).

    Example:
        >>> write_backtest_report(result, frame, Path("bt.html"), target="load",
        ...                       time="timestamp", series="id")  # doctest: +SKIP
    """
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    page = build_backtest_report(result, history, target=target, time=time, series=series)
    with atomic_writer(path, overwrite=overwrite, mode="wb") as handle:
        handle.write(page.encode("utf-8"))
    return path


def build_backtest_report(
    result: Backtest,
    history: pd.DataFrame | None,
    *,
    target: str,
    time: str,
    series: str | None,
) -> str:
    """The backtest's HTML page (see :func:`write_backtest_report`)."""
    from deepfit.version import __version__

    forecasts = result.forecasts
    horizon = int(forecasts["step"].max()) if len(forecasts) else 0
    ids = _series_ids(forecasts, series)
    meta = [
        f"target: {target}",
        f"horizon: {horizon} steps",
        f"origins: {forecasts['origin'].nunique()}",
        *([f"series: {forecasts[str(series)].nunique()}"] if ids[0] is not None else []),
        f"season: {result.season}",
        f"deepfit {__version__}",
        f"report created_at: {datetime.now(UTC).isoformat(timespec='seconds')}",
    ]
    sections = [
        _metrics_section(result),
        _forecast_section(result, history, ids, target=target, time=time, series=series),
        _steps_section(result),
        _training_section(result),
    ]
    return render_page(f"deepfit backtest: {target}", meta, sections)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _metrics_section(result: Backtest) -> Section:
    rows = [
        (model, *(_text(values.get(name)) for name, _ in SHOWN), _text(values.get("n_scored")))
        for model, values in result.metrics.items()
    ]
    body = table(["model", *(label for _, label in SHOWN), "scored steps"], rows)
    if result.coverage is not None and result.interval is not None:
        body += paragraph(
            f"{result.interval:g} intervals held {result.coverage:.1%} of the actual values"
        )
    else:
        body += paragraph("No intervals were measured.")
    return Section("metrics", "Metrics over every origin and step", body)


def _series_ids(forecasts: pd.DataFrame, series: str | None) -> list[Any]:
    if series is None or series not in forecasts.columns:
        return [None]
    return list(pd.unique(forecasts[series]))[:MAX_SERIES]


def _rows_of(frame: pd.DataFrame, series: str | None, key: Any) -> pd.DataFrame:
    if key is None or series is None:
        return frame
    return frame[frame[series].astype(str) == str(key)]


def _times(values: Any) -> pd.DatetimeIndex:
    """Timestamps without a time zone (UTC), as matplotlib draws them."""
    index = parse_times(pd.Series(values), "time")
    return index.tz_localize(None) if index.tz is not None else index


def _forecast_section(
    result: Backtest,
    history: pd.DataFrame | None,
    ids: list[Any],
    *,
    target: str,
    time: str,
    series: str | None,
) -> Section:
    known = history is not None and {time, target} <= set(history.columns)
    figures = []
    for key in ids:
        rows = _rows_of(result.forecasts, series, key)
        origin = _times([rows["origin"].max()])[0]
        after = rows[rows["origin"] == rows["origin"].max()].sort_values("step")
        source = _rows_of(history, series, key) if known and history is not None else rows
        past = pd.DataFrame(
            {
                "time": _times(source[time]),
                "actual": pd.to_numeric(source[target], errors="coerce").to_numpy(),
            }
        )
        past = past[past["time"] <= origin].drop_duplicates("time", keep="last")
        before = past.sort_values("time").tail(CONTEXT * max(len(after), 1))
        figure = _forecast_figure(before, after, origin, result.interval, target, time)
        name = "" if key is None else f"series {key}: "
        figures.append(image(data_uri(figure), f"{name}forecast from the last origin ({origin})"))
    total = 1 if ids[0] is None else result.forecasts[str(series)].nunique()
    shown = "" if total == 1 else f" Shown: the first {len(ids)} of {total} series."
    note = paragraph(
        "Actual values before and after the last origin, deepfit's forecast from it, and the "
        f"interval band where intervals were measured.{shown}"
    )
    return Section("forecast", "Forecast from the last origin", note + "".join(figures))


def _forecast_figure(
    before: pd.DataFrame,
    after: pd.DataFrame,
    origin: pd.Timestamp,
    level: float | None,
    target: str,
    time: str,
) -> Figure:
    """``before``: ``time`` and ``actual`` up to the origin; ``after``: the forecast rows."""
    times = _times(after[time])
    actual = np.concatenate([before["actual"].to_numpy(float), after[target].to_numpy(float)])
    figure = Figure(figsize=(8.0, 3.6))
    axes = figure.add_subplot()
    if "lower" in after.columns and "upper" in after.columns:
        label = "interval" if level is None else f"{level:.0%} interval"
        low, high = after["lower"].to_numpy(float), after["upper"].to_numpy(float)
        axes.fill_between(times, low, high, color=BAR_COLOUR, alpha=0.25, label=label)
    shown = np.concatenate([before["time"].to_numpy(), times.to_numpy()])
    axes.plot(shown, actual, color="black", linewidth=1, label="actual")
    axes.plot(times, after[f"predicted_{MODEL}"].to_numpy(float), color=BAR_COLOUR, label="deepfit")
    axes.axvline(float(date2num(origin)), color="grey", linestyle="--", linewidth=1, label="origin")
    axes.set_xlabel(time)
    axes.set_ylabel(target)
    axes.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    return figure


def _steps_section(result: Backtest) -> Section:
    figure = Figure(figsize=(5.5, 4.0))
    axes = figure.add_subplot()
    for index, (model, values) in enumerate(result.metrics.items(), start=1):
        errors = [np.nan if v is None else v for v in values.get("by_step", {}).get("mae", [])]
        # deepfit in the report's blue and thicker; each baseline in its own cycle colour
        colour, width = (BAR_COLOUR, 2.0) if model == MODEL else (f"C{index}", 1.0)
        axes.plot(
            range(1, len(errors) + 1), errors, marker="o", markersize=3, label=model,
            color=colour, linewidth=width,
        )  # fmt: skip
    axes.set_xlabel("steps ahead")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("MAE")
    axes.set_title("Error by horizon step")
    axes.legend(fontsize="small")
    note = paragraph("Mean absolute error at each step ahead, over every origin and series.")
    body = note + image(data_uri(figure), "MAE by horizon step")
    return Section("steps", "Error by horizon step", body)


def _training_section(result: Backtest) -> Section:
    if not result.training:
        return Section("training", "Training", paragraph("No training summary stored."))
    summary = result.training[0]
    rows = [(name, _text(summary[name])) for name in TRAINING if name in summary]
    body = table(["item", "value"], rows)
    if len(result.training) > 1:
        body += paragraph(
            f"Retrained at each of {len(result.training)} origins; the first training is shown."
        )
    return Section("training", "Training", body)
