# Usage: .forecast-venv/bin/python benchmarks/forecast_unseen.py [--sets m1_yearly] [--seeds 0 1 2]
"""Forecasts for series deepfit has never seen, beside the seasonal naive on the same series.

For each panel set, deepfit trains on every other series (the even positions in the file) and
forecasts the last ``horizon`` steps of the others from their own history alone: no weights
were fitted on them, and their scale comes from the history given, as in production when a
new store or sensor appears. Scored by MASE (Monash's definition: in-sample seasonal error of
each series' history) against the seasonal naive on exactly those windows.

Appends its table to benchmarks/results/forecast_unseen.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from forecast_data import FORECAST_SETS, ForecastSet

from deepfit import Forecaster
from deepfit.evaluation.forecast_baselines import seasonal_naive_forecast
from deepfit.evaluation.forecast_metrics import forecast_metrics, mase_scale

RESULTS = Path(__file__).resolve().parent / "results" / "forecast_unseen.md"


def split_series(data: ForecastSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of the series at even positions (to train on) and of the others."""
    assert data.series is not None
    ids = list(dict.fromkeys(data.frame[data.series]))
    seen = set(ids[::2])
    mask = data.frame[data.series].isin(seen)
    return data.frame[mask], data.frame[~mask]


def score_unseen(data: ForecastSet, seed: int) -> dict[str, float]:
    train, unseen = split_series(data)
    assert data.series is not None
    horizon = data.horizon
    forecaster = Forecaster(
        horizon, frequency=data.frequency, lookback=data.lookback, random_state=seed
    )
    started = time.perf_counter()
    forecaster.fit(train, target=data.target, time=data.time, series=data.series, known=data.known)
    seconds = time.perf_counter() - started
    ordered = unseen.sort_values([data.series, data.time])
    rank = ordered.groupby(data.series).cumcount(ascending=False)
    history, future = ordered[rank >= horizon], ordered[rank < horizon]
    forecast = forecaster.predict(history, future[[data.series, data.time, *data.known]])
    actual = future.set_index([data.series, data.time])[data.target]
    keys = pd.MultiIndex.from_frame(forecast[[data.series, data.time]])
    truth = actual.reindex(keys).to_numpy(dtype=np.float64).reshape(-1, horizon)
    predicted = forecast[f"predicted_{data.target}"].to_numpy().reshape(-1, horizon)
    pasts, scales = [], []
    for _, rows in history.groupby(data.series, sort=True):
        values = rows[data.target].to_numpy(dtype=np.float64)
        pasts.append(values[-max(data.season, 1) :])
        scales.append(mase_scale(values, data.season))
    width = max(len(p) for p in pasts)
    past = np.full((len(pasts), width), np.nan)
    for row, values in enumerate(pasts):
        past[row, width - len(values) :] = values
    naive = seasonal_naive_forecast(past, horizon, data.season)
    scale = np.asarray(scales)
    return {
        "series": len(truth),
        "deepfit": forecast_metrics(truth, predicted, scale)["mase"],
        "seasonal_naive": forecast_metrics(truth, naive, scale)["mase"],
        "fit_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=["m1_yearly"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(2)
    lines = [
        f"\n## {time.strftime('%Y-%m-%d')}: `{' '.join(sys.argv)}` ({platform.machine()})\n",
        "| set | seed | unseen series | deepfit MASE | seasonal naive MASE | fit s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in args.sets:
        data = FORECAST_SETS[name]()
        for seed in args.seeds:
            found = score_unseen(data, seed)
            lines.append(
                f"| {name} | {seed} | {found['series']} | {found['deepfit']:.3f} | "
                f"{found['seasonal_naive']:.3f} | {found['fit_seconds']:.0f} |"
            )
            print(lines[-1], flush=True)
    with RESULTS.open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
