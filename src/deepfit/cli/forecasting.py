"""Forecasting on the command line: ``train --time``, ``predict`` and ``evaluate`` of a
forecaster, ``info`` of one, and ``deepfit backtest``.

``train``, ``predict``, ``evaluate`` and ``info`` call in here when the data has a time
column or the model is a forecaster; ``backtest`` is this module's own command.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from deepfit.cli.common import Force
from deepfit.cli.harness import say, split_names, tell, user_errors
from deepfit.cli.options import estimator_options, refuse_options, task_params

FORECAST_ONLY = ("horizon", "lookback", "frequency", "hidden", "layers")
SHOWN = (
    ("mae", "MAE"),
    ("rmse", "RMSE"),
    ("smape", "sMAPE %"),
    ("mape", "MAPE %"),
    ("mase", "MASE"),
)

TimeColumn = Annotated[
    str | None,
    typer.Option(
        "--time", help="Time column: makes this a forecasting run (the next --horizon steps)."
    ),
]
SeriesColumn = Annotated[
    str | None,
    typer.Option(
        "--series", help="Series id column of a panel in long format (one row per series and step)."
    ),
]
KnownColumns = Annotated[
    list[str] | None,
    typer.Option(
        "--known",
        help="Covariates known in advance (e.g. temperature,workday); "
        "every other numeric column is a past-only covariate.",
    ),
]


def forecaster_params(params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """The forecaster's parameters among a command's estimator options; a one-line error for
    one that only a table model takes."""
    return task_params(
        params,
        "forecasting",
        seed,
        foreign="{option} applies to table models, not to forecasting (--time); the "
        "forecaster takes {own}",
    )


def refuse_forecast_options(params: dict[str, Any]) -> None:
    """A table run given a forecasting option: say that it needs --time."""
    refuse_options(params, FORECAST_ONLY, "{option} needs --time TIME_COLUMN (a forecasting run)")


def train_forecast(
    data: Path,
    *,
    target: str,
    time: str,
    series: str | None,
    known: list[str] | None,
    params: dict[str, Any],
    out_path: Path,
    force: bool,
    quiet: bool,
) -> None:
    """``train --time``: fit a forecaster on DATA and save it."""
    from deepfit.data.io import read_table
    from deepfit.estimator import Forecaster

    frame = read_table(data)
    forecaster = Forecaster(**params, verbose=0 if quiet else 1)
    forecaster.fit(frame, target=target, time=time, series=series, known=split_names(known))
    say(*describe_forecaster(forecaster))
    forecaster.save(out_path, overwrite=force)
    say(f"saved model to {out_path}; forecast with: deepfit predict {out_path} HISTORY")


def describe_forecaster(forecaster: Any) -> list[Any]:
    """What ``train`` and ``info`` print about a forecaster."""
    fit = forecaster.check_fitted()
    prep, settings, summary = fit.preparer, fit.settings, fit.summary
    columns = prep.columns
    lines: list[Any] = [
        f"forecasting '{columns.target}' {prep.horizon} steps of {prep.frequency} ahead from "
        f"{prep.lookback} steps of history; {summary.get('series', len(prep.ids))} series"
        + (f" (by '{columns.series}')" if columns.series else ""),
        f"known in advance: {', '.join([*columns.known, *prep.calendar]) or 'nothing'}; "
        f"past only: {', '.join(prep.past_names) or 'nothing'}",
        f"model: {settings['model']} (hidden {settings['hidden']}, layers {settings['layers']}); "
        f"{summary.get('epochs')} epochs in {summary.get('seconds')} s, best epoch "
        f"{summary.get('best_epoch')}; {summary.get('stop_reason')}",
        f"windows: {summary.get('train_windows')} train, {summary.get('validation_windows')} "
        "validation (the last part of each series)",
    ]
    ignored = summary.get("ignored_columns")
    if ignored:
        lines.append(
            f"note: column(s) {', '.join(ignored)} are not numbers, so they were left out; "
            "encode them as numbers to use them"
        )
    inserted = summary.get("inserted_steps")
    if inserted:
        lines.append(f"note: {inserted} missing step(s) were inserted; they are never scored")
    validation = summary.get("validation_metrics")
    if validation:
        lines.append(metrics_table(validation, "validation windows: deepfit beside baselines"))
    return lines


def metrics_table(metrics: dict[str, dict[str, Any]], title: str) -> Table:
    """One row per model: MAE, RMSE, sMAPE, MAPE, MASE."""
    table = Table(title=title)
    table.add_column("model")
    for _, label in SHOWN:
        table.add_column(label, justify="right")
    for model, values in metrics.items():
        cells = []
        for name, _ in SHOWN:
            value = values.get(name)
            cells.append("-" if value is None or not math.isfinite(value) else f"{value:.4g}")
        table.add_row(model, *cells)
    return table


def predict_forecast(
    forecaster: Any,
    data: Path,
    *,
    future: Path | None,
    interval: float | None,
    out_path: Path | None,
    force: bool,
) -> None:
    """``predict`` of a forecaster: the horizon after the end of each series in DATA."""
    from deepfit.data.io import read_table, write_table

    history = read_table(data)
    future_rows = read_table(future) if future is not None else None
    table = forecaster.predict(history, future_rows, interval=interval)
    if out_path is None:
        table.to_csv(sys.stdout, index=False)
        return
    write_table(table, out_path, overwrite=force)
    tell(f"wrote {len(table)} forecasts to {out_path}")


def evaluate_forecast(
    forecaster: Any, data: Path, *, windows: int, step: int | None, as_json: bool
) -> None:
    """``evaluate`` of a forecaster: its forecasts from the last origins of DATA, scored."""
    from deepfit.data.io import read_table
    from deepfit.estimator.backtest import evaluate_forecaster

    result = evaluate_forecaster(forecaster, read_table(data), windows=windows, step=step)
    show_backtest(result, title=f"{data.name}: {windows} origin(s)", as_json=as_json)


def show_backtest(result: Any, *, title: str, as_json: bool) -> None:
    """The metrics table (or JSON) of a backtest, with its interval coverage."""
    if as_json:
        document = {
            "metrics": result.metrics,
            "coverage": result.coverage,
            "interval": result.interval,
            "season": result.season,
        }
        say(json.dumps(document, indent=1, default=str))
        return
    say(metrics_table(result.metrics, title))
    if result.coverage is not None:
        say(f"{result.interval:g} intervals held {result.coverage:.1%} of the actual values")


@user_errors
@estimator_options
def backtest(
    data: Annotated[Path, typer.Argument(help="CSV, TSV or Parquet file of one or more series.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Column to forecast.")],
    time: Annotated[str, typer.Option("--time", help="Time column.")],
    series: SeriesColumn = None,
    known: KnownColumns = None,
    windows: Annotated[int, typer.Option(help="Rolling origins, counted back from the end.")] = 1,
    step: Annotated[
        int | None, typer.Option(help="Steps between origins; the horizon by default.")
    ] = None,
    refit: Annotated[
        bool,
        typer.Option(
            help="Retrain at every origin (default: train once, before the "
            "first origin, and forecast from each with the same weights)."
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option(help="Level of the intervals whose coverage is measured.")
    ] = 0.9,
    seed: Annotated[int | None, typer.Option(help="Seed of the training.")] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for forecasts.csv and metrics.json."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write an HTML report: metrics, forecasts with intervals, error by "
            "horizon step.",
        ),
    ] = None,
    force: Force = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    params: dict[str, Any] | None = None,
) -> None:
    """Rolling-origin backtest of a forecaster on DATA beside naive, seasonal naive and
    LightGBM on lags, with every metric per horizon step in --out."""
    from deepfit.data.io import read_table
    from deepfit.estimator import Forecaster
    from deepfit.estimator import backtest as run_backtest
    from deepfit.files import check_output_folder, check_writable

    if out_dir is not None:
        check_output_folder(out_dir, overwrite=force, what="the backtest")
    if report is not None:
        check_writable(report, overwrite=force)
    settings = forecaster_params(dict(params or {}), seed)
    forecaster = Forecaster(**settings, verbose=0 if quiet else 1)
    frame = read_table(data)
    result = run_backtest(
        forecaster,
        frame,
        target=target,
        time=time,
        series=series,
        known=split_names(known),
        windows=windows,
        step=step,
        refit=refit,
        interval=interval,
    )
    origins = f"{windows} origin(s){' refitted' if refit else ''}"
    show_backtest(
        result, title=f"{data.name}: {origins}, horizon {forecaster.horizon}", as_json=as_json
    )
    if out_dir is not None:
        write_backtest(result, out_dir)
        tell(f"wrote forecasts.csv and metrics.json to {out_dir}")
    if report is not None:
        from deepfit.report.forecast import write_backtest_report

        write_backtest_report(
            result, frame, report, target=target, time=time, series=series, overwrite=force
        )
        tell(f"wrote the backtest report to {report}")


def write_backtest(result: Any, folder: Path) -> None:
    """``backtest --out``: every forecast, and the metrics overall and per horizon step."""
    from deepfit.data.io import write_table
    from deepfit.files import atomic_writer

    folder.mkdir(parents=True, exist_ok=True)
    write_table(result.forecasts, folder / "forecasts.csv", overwrite=True)
    document = {
        "metrics": result.metrics,
        "coverage": result.coverage,
        "interval": result.interval,
        "season": result.season,
        "training": result.training,
    }
    with atomic_writer(folder / "metrics.json", overwrite=True, mode="w") as handle:
        handle.write(json.dumps(document, indent=1, default=str))
