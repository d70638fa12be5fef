# Usage: .forecast-venv/bin/python benchmarks/forecast.py [--sets elecdemand] [--quick]
#        (bash benchmarks/setup_forecast_peers.sh makes .forecast-venv: deepfit beside its peers)
"""deepfit's Forecaster beside the forecasters people use, on the same rolling origins.

For each set (benchmarks/forecast_data.py) deepfit's ``backtest`` trains once on the history
before the first origin and forecasts from every origin (expanding window), with its own
baselines on the same windows (naive, seasonal naive, LightGBM on lags). The peers
(benchmarks/forecast_peers.py: statsforecast's SeasonalNaive, AutoETS and MSTL+ETS,
neuralforecast's NHITS and LSTM) forecast from the same origins under the same protocol, and
every forecast is scored here by the same code: MAE, RMSE, sMAPE and MASE (against the
seasonal naive's in-sample error, season from the frequency) over every origin and step.

Writes benchmarks/results/forecast.md (the tables) and forecast.jsonl (one record per set,
model and seed).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from forecast_data import FORECAST_SETS, ForecastDataUnavailableError, ForecastSet, describe
from forecast_peers import NEURAL, PEERS

from deepfit import Forecaster, backtest
from deepfit.evaluation.forecast_metrics import forecast_metrics, mase_scale

RESULTS = Path(__file__).resolve().parent / "results"
DEEPFIT_MODELS = ("auto", "lstm", "gru", "tcn")
QUICK = {"max_epochs": 2}


def run_deepfit(
    data: ForecastSet, model: str, *, time_limit: float, seed: int, quick: bool
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """deepfit's backtest on the set's origins: its forecasts (and its own baselines').
    ``model`` may name a precision after an @, e.g. ``lstm@fp32`` (default: ``auto``)."""
    model, _, precision = model.partition("@")
    params: dict[str, Any] = {"model": model, "lookback": data.lookback, "random_state": seed}
    params["precision"] = precision or "auto"
    params["time_limit"] = time_limit
    if quick:
        params |= QUICK
    forecaster = Forecaster(data.horizon, frequency=data.frequency, **params)
    started = time.perf_counter()
    result = backtest(
        forecaster,
        data.frame,
        target=data.target,
        time=data.time,
        series=data.series,
        known=data.known,
        windows=data.windows,
        step=data.step,
        interval=0.9,
        baselines=model == "auto" and not precision,
    )
    seconds = time.perf_counter() - started
    info = {
        "seconds": seconds,
        "fit_seconds": result.training[0]["seconds"],
        "epochs": result.training[0]["epochs"],
        "coverage": result.coverage,
        "resolved_model": forecaster.settings_["model"],
        "precision": result.training[0].get("precision"),
    }
    return result.forecasts, info


def scored(
    data: ForecastSet, forecasts: pd.DataFrame, predictions: dict[str, pd.DataFrame]
) -> dict[str, dict[str, Any]]:
    """Every model's metrics on deepfit's backtest windows, by one scorer."""
    keys = ["series", "origin", "timestamp"] if data.series else ["origin", "timestamp"]
    base = forecasts.rename(columns={data.series: "series"} if data.series else {})
    base = base.rename(columns={data.time: "timestamp", data.target: "actual"})
    horizon = data.horizon
    truth = base["actual"].to_numpy().reshape(-1, horizon)
    scale = _mase_scales(data, base).reshape(-1, horizon)[:, 0]
    results = {}
    for name, frame in predictions.items():
        merged = base[keys].merge(frame, on=keys, how="left", validate="one_to_one")
        values = merged["prediction"].to_numpy(dtype=np.float64).reshape(-1, horizon)
        if np.isnan(values).any():
            print(f"  {name}: {int(np.isnan(values).sum())} forecasts missing", file=sys.stderr)
        results[name] = forecast_metrics(truth, values, scale)
    return results


def _mase_scales(data: ForecastSet, base: pd.DataFrame) -> np.ndarray:
    """Each row's MASE denominator: its series' in-sample seasonal error before the first
    origin of that series."""
    frame = data.frame.sort_values([*([data.series] if data.series else []), data.time])
    groups = frame.groupby(data.series, sort=False) if data.series else [(None, frame)]
    first_origin = base.groupby("series")["origin"].min() if data.series else base["origin"].min()
    scales = {}
    for name, rows in groups:
        cut = first_origin[str(name)] if data.series else first_origin
        history = rows.loc[rows[data.time] <= cut, data.target].to_numpy(dtype=np.float64)
        scales[str(name)] = mase_scale(history, data.season)
    if data.series:
        return base["series"].astype(str).map(scales).to_numpy(dtype=np.float64)
    return np.full(len(base), scales["None"])


def own_predictions(forecasts: pd.DataFrame, data: ForecastSet) -> dict[str, pd.DataFrame]:
    """deepfit's backtest columns ``predicted_<model>`` as separate prediction frames."""
    keys = [data.series, "origin", data.time] if data.series else ["origin", data.time]
    out = {}
    for column in [c for c in forecasts.columns if c.startswith("predicted_")]:
        frame = forecasts[[*keys, column]].rename(columns={column: "prediction"})
        frame = frame.rename(columns={data.time: "timestamp", data.series: "series"})
        out[column.removeprefix("predicted_")] = frame
    return out


def peer_predictions(
    data: ForecastSet, forecasts: pd.DataFrame, names: list[str], args: argparse.Namespace
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    origins: Any = data.origins()
    if not isinstance(origins, str):
        ours = sorted(pd.to_datetime(forecasts["origin"]).unique())
        origins = [pd.Timestamp(origin) for origin in ours]
    predictions, infos = {}, {}
    for name in names:
        extra = {"quick": args.quick} if name in NEURAL else {}
        try:
            frame = PEERS[name](data, origins, time_limit=args.time_limit, seed=args.seed, **extra)
        except Exception as error:  # a peer that fails is reported, not fatal
            print(f"  {name} failed: {type(error).__name__}: {error}", file=sys.stderr)
            continue
        if data.series:
            frame["series"] = frame["series"].astype(str)
        predictions[f"peer:{name}"] = frame
        infos[f"peer:{name}"] = {
            "seconds": frame.attrs.get("seconds"),
            "fit_seconds": frame.attrs.get("fit_seconds"),
        }
    return predictions, infos


def run_set(data: ForecastSet, args: argparse.Namespace) -> list[dict[str, Any]]:
    print(describe(data))
    records: list[dict[str, Any]] = []
    predictions: dict[str, pd.DataFrame] = {}
    infos: dict[str, dict[str, Any]] = {}
    base = None
    for model in args.models:
        forecasts, info = run_deepfit(
            data, model, time_limit=args.time_limit, seed=args.seed, quick=args.quick
        )
        own = own_predictions(forecasts, data)
        predictions[f"deepfit:{model}"] = own.pop("deepfit")
        infos[f"deepfit:{model}"] = info
        if model == args.models[0]:
            base = forecasts
            predictions |= {f"baseline:{name}": frame for name, frame in own.items()}
        print(f"  deepfit {model}: {info['epochs']} epochs, fit {info['fit_seconds']:.0f} s")
    assert base is not None
    if data.series:
        base = base.assign(**{data.series: base[data.series].astype(str)})
        for frame in predictions.values():
            frame["series"] = frame["series"].astype(str)
    peers, peer_infos = peer_predictions(data, base, args.peers, args)
    predictions |= peers
    infos |= peer_infos
    metrics = scored(data, base, predictions)
    for name, values in metrics.items():
        record = {"set": data.name, "model": name, "seed": args.seed, "quick": args.quick}
        record |= {k: values.get(k) for k in ("mae", "rmse", "smape", "mase")}
        record |= {"by_step_mae": values["by_step"]["mae"], **infos.get(name, {})}
        records.append(record)
    print(table(records))
    return records


def table(records: list[dict[str, Any]]) -> str:
    """A markdown table of one set's records, best MAE first."""
    lines = [
        "| model | MAE | RMSE | sMAPE % | MASE | fit s | 0.9 coverage |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for record in sorted(records, key=lambda r: (r["mae"] is None, r["mae"] or 0.0)):
        fit = record.get("fit_seconds")
        coverage = record.get("coverage")
        lines.append(
            f"| {record['model']} | {_maybe(record['mae'])} | {_maybe(record['rmse'])} | "
            f"{_maybe(record['smape'])} | {_maybe(record['mase'])} | "
            f"{'' if fit is None else f'{fit:.0f}'} | "
            f"{'' if coverage is None else f'{coverage:.1%}'} |"
        )
    return "\n".join(lines)


def _maybe(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=list(FORECAST_SETS))
    parser.add_argument(
        "--models", nargs="*", default=list(DEEPFIT_MODELS), help="e.g. auto lstm lstm@fp32"
    )
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--time-limit", type=float, default=240.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a smoke test, not a benchmark")
    parser.add_argument("--out", type=Path, default=RESULTS / "forecast.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    header = (
        f"# Forecasting benchmark\n\n`{' '.join(sys.argv)}` on {platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}.\n\n"
    )
    sections: list[str] = []
    for name in args.sets:
        try:
            data = FORECAST_SETS[name]()
        except ForecastDataUnavailableError as error:
            print(f"skipping {name}: {error}")
            sections.append(f"## {name}\n\nnot run: {error}\n")
            continue
        found = run_set(data, args)
        sections.append(f"## {name}\n\n{describe(data)}\n\n{table(found)}\n")
        if not args.quick:  # written after each set, so a long run keeps what it measured
            args.out.write_text(header + "\n".join(sections))
            with args.out.with_suffix(".jsonl").open("a") as handle:
                for record in found:
                    handle.write(json.dumps(record, default=str) + "\n")
            print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
