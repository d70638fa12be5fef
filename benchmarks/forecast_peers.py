# Usage: .forecast-venv/bin/python benchmarks/forecast_peers.py --quick   (smoke test, elecdemand)
"""deepfit Forecaster's peers for benchmarks/forecast.py, on the same rolling origins.

Every ``run_<peer>(data, origins, *, time_limit, seed)`` trains once on the history up to the
first origin, then forecasts the ``horizon`` steps after every origin from the history up to that
origin, without refitting (an expanding window), which is deepfit's protocol. ``origins`` is
``data.origins()``: a list of timestamps, or ``"last"`` (one origin per series: its last timestamp
but ``horizon``, as in the Monash evaluation of M1). Each returns long rows ``series`` (only
where the set has several series), ``origin``, ``timestamp``, ``prediction``, and the seconds
spent in ``frame.attrs``: ``seconds`` (all), ``fit_seconds`` (the one training), and
``settings``.

- seasonal_naive, auto_ets, mstl_ets (statsforecast): fitted per series on the first history;
  at each origin the fitted model's ``forward`` runs it on the history up to that origin without
  re-estimating (what statsforecast's ``cross_validation(refit=False)`` does; MSTL's
  decomposition, which has no parameters, is recomputed on each history, and the ETS on its
  remainder keeps its first fit). ``settings["chosen"]`` is the ETS model picked per series.
  SeasonalNaive and AutoETS get ``season_length=data.season``. On elecdemand (season 48)
  AutoETS's AICc picks a non-seasonal damped-trend model (AAdN), so mstl_ets is added: MSTL
  with the daily and weekly seasons for sub-daily data (the season alone otherwise) and a
  non-seasonal AutoETS (ZZN) on the remainder, the STL-then-ETS recipe of fpp (R's ``stlf``);
  it needs a season (``PeerNotApplicableError`` on M1). None of them uses covariates, and
  ``time_limit`` does not apply to them.
- nhits, lstm (neuralforecast): ``input_size=data.lookback``, the known covariates as
  ``futr_exog_list``, robust window scaling, MAE loss, Adam at lr 1e-3 (the defaults) on the CPU,
  at most ``MAX_STEPS`` steps and ``time_limit`` seconds (Lightning's ``max_time``); early
  stopping after ``PATIENCE`` validation checks (every ``VAL_CHECK`` steps) without a better MAE
  on the last ``VAL_HORIZONS`` horizons of the training history (the model trains on the steps
  before them; neuralforecast keeps the last weights, not the best). Where the shortest training
  series is too short for that (M1), there is no validation slice and it runs ``MAX_STEPS``
  steps; short series are zero-padded at the start (``start_padding_enabled``). LSTM is the
  direct (non-recurrent) multi-step variant, neuralforecast's default. ``settings["steps_run"]``
  says how far each fit got. On elecdemand (2 shared cores, time_limit 300) NHITS stopped early
  after 600 steps in 163-219 s; LSTM, whose CPU backward over 336 steps takes 2-30 s a step
  depending on the load, ran out of time after 140-163 steps. Threads are the caller's
  (``torch.set_num_threads``): on this 2-core machine shared with other work, one thread made
  short fits up to 9 times faster than two, and was no slower over whole fits.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from forecast_data import FORECAST_SETS, ForecastSet
from pandas.tseries.frequencies import to_offset

MAX_STEPS = 1000  # neuralforecast's default; on elecdemand the time limit ends the fit first
VAL_CHECK = 50  # steps between validation checks
PATIENCE = 5  # checks without improvement before stopping
VAL_HORIZONS = 7  # the validation slice: this many horizons (a week on elecdemand)
QUICK = {"max_steps": 5, "val_check": 5}  # --quick: a smoke test, not a benchmark
Origins = list[pd.Timestamp] | Literal["last"]


class PeerNotApplicableError(Exception):
    """The peer does not apply to this set (mstl_ets without a season); the benchmark skips it."""


@dataclass(frozen=True)
class Cut:
    """The history up to one origin and the known covariates of the ``horizon`` steps after
    it, in neuralforecast's long format (unique_id, ds, y, covariates)."""

    history: pd.DataFrame
    future: pd.DataFrame


def panel(data: ForecastSet) -> pd.DataFrame:
    """The set in Nixtla's long format: unique_id, ds, y and the known covariates."""
    ids = data.frame[data.series].astype(str) if data.series else data.name
    frame = pd.DataFrame({"unique_id": ids, "ds": data.frame[data.time]})
    frame["y"] = data.frame[data.target].astype("float64")
    for name in data.known:
        frame[name] = data.frame[name].astype("float64")
    return frame.sort_values(["unique_id", "ds"], ignore_index=True)


def cuts(data: ForecastSet, origins: Origins) -> list[Cut]:
    """One Cut per origin; for ``"last"``, one Cut whose histories end ``horizon`` steps before
    each series' end."""
    frame = panel(data)
    future_columns = ["unique_id", "ds", *data.known]
    if isinstance(origins, str):
        rank = frame.groupby("unique_id").cumcount(ascending=False)  # 0 at each series' end
        future = frame.loc[rank < data.horizon, future_columns].reset_index(drop=True)
        return [Cut(frame.loc[rank >= data.horizon].reset_index(drop=True), future)]
    end = to_offset(data.frequency) * data.horizon
    out = []
    for origin in origins:
        ahead = (frame["ds"] > origin) & (frame["ds"] <= origin + end)
        history = frame.loc[frame["ds"] <= origin].reset_index(drop=True)
        out.append(Cut(history, frame.loc[ahead, future_columns].reset_index(drop=True)))
    return out


def _result(
    data: ForecastSet, parts: list[pd.DataFrame], started: float, fit: float, settings: dict
) -> pd.DataFrame:
    """The long rows every peer returns (see the module docstring), with the timings."""
    frame = pd.concat(parts, ignore_index=True)
    columns = {"unique_id": "series", "ds": "timestamp"}
    frame = frame.rename(columns=columns)[["series", "origin", "timestamp", "prediction"]]
    if data.series is None:
        frame = frame.drop(columns=["series"])
    frame.attrs.update(seconds=time.perf_counter() - started, fit_seconds=fit, settings=settings)
    return frame


def _origin_of(history: pd.DataFrame) -> pd.Series:
    return history.groupby("unique_id")["ds"].max()


# ------------------------------------------------------------------------ statsforecast
def _stats_peer(
    data: ForecastSet, origins: Origins, make: Callable[[], Any], settings: dict
) -> pd.DataFrame:
    started = time.perf_counter()
    parts_of = cuts(data, origins)
    first = parts_of[0].history.groupby("unique_id")["y"]
    models = {uid: make().fit(y.to_numpy()) for uid, y in first}
    fit = time.perf_counter() - started
    offset = to_offset(data.frequency)
    parts = []
    for cut in parts_of:
        for uid, y in cut.history.groupby("unique_id")["y"]:
            mean = models[uid].forward(y=y.to_numpy(), h=data.horizon)["mean"]
            origin = cut.history["ds"].loc[y.index[-1]]
            timestamp = pd.date_range(origin + offset, periods=data.horizon, freq=offset)
            parts.append(
                pd.DataFrame(
                    {"unique_id": uid, "origin": origin, "ds": timestamp, "prediction": mean}
                )
            )
    chosen = {uid: _ets_components(model) for uid, model in models.items()}
    if any(chosen.values()):  # the ETS model AutoETS picked for each series, e.g. "AAdN"
        settings = {**settings, "chosen": chosen if len(chosen) > 1 else chosen.popitem()[1]}
    return _result(data, parts, started, fit, settings)


def _ets_components(model: Any) -> str | None:
    fitted = getattr(getattr(model, "trend_forecaster", model), "model_", None)
    if not isinstance(fitted, dict) or "components" not in fitted:
        return None
    error, trend, season, damped = fitted["components"]
    return f"{error}{trend}{'d' if damped == 'D' else ''}{season}"


def run_seasonal_naive(
    data: ForecastSet, origins: Origins, *, time_limit: float, seed: int
) -> pd.DataFrame:
    """statsforecast's SeasonalNaive(season_length=data.season); deterministic, no limit."""
    from statsforecast.models import SeasonalNaive

    def make() -> Any:
        return SeasonalNaive(season_length=data.season)

    return _stats_peer(data, origins, make, {"season_length": data.season})


def run_auto_ets(
    data: ForecastSet, origins: Origins, *, time_limit: float, seed: int
) -> pd.DataFrame:
    """statsforecast's AutoETS(season_length=data.season), fitted once, forwarded per origin."""
    from statsforecast.models import AutoETS

    def make() -> Any:
        return AutoETS(season_length=data.season)

    return _stats_peer(data, origins, make, {"season_length": data.season, "model": "ZZZ"})


def mstl_seasons(data: ForecastSet) -> list[int]:
    """The season, and a week of them too where the data are sub-daily (elecdemand: 48, 336)."""
    offset = to_offset(data.frequency)
    daily = isinstance(offset, pd.offsets.Tick) and offset.nanos < pd.Timedelta(days=1).value
    return [data.season, data.season * 7] if daily and data.season > 1 else [data.season]


def run_mstl_ets(
    data: ForecastSet, origins: Origins, *, time_limit: float, seed: int
) -> pd.DataFrame:
    """statsforecast's MSTL(mstl_seasons) with AutoETS(model="ZZN") on the deseasonalised rest."""
    from statsforecast.models import MSTL, AutoETS

    if data.season <= 1:
        raise PeerNotApplicableError(f"mstl_ets: {data.name} has no season (auto_ets covers it)")
    seasons = mstl_seasons(data)

    def make() -> Any:
        return MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN"))

    return _stats_peer(data, origins, make, {"season_length": seasons, "trend": "AutoETS ZZN"})


# ------------------------------------------------------------------------ neuralforecast
def _quiet() -> None:
    """Silence Lightning's banners ("GPU available: False", "Seed set to") and warnings."""
    for name in ("lightning", "pytorch_lightning", "lightning_fabric", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=name)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")


def _step_counter() -> tuple[Any, dict[str, int]]:
    """A Lightning callback and the dict where it leaves the number of optimiser steps the fit
    ran (a dict outside the callback: neuralforecast fits a copy of it)."""
    import pytorch_lightning as pl

    ran = {"steps": 0}

    class StepCounter(pl.Callback):
        def on_train_end(self, trainer: Any, module: Any) -> None:
            ran["steps"] = int(trainer.global_step)

    return StepCounter(), ran


def _neural_peer(
    data: ForecastSet,
    origins: Origins,
    name: str,
    *,
    time_limit: float,
    seed: int,
    quick: bool,
    **model_kwargs: Any,
) -> pd.DataFrame:
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM, NHITS

    _quiet()  # after the imports, which set Lightning's loggers to INFO
    started = time.perf_counter()
    parts_of = cuts(data, origins)
    train = parts_of[0].history
    shortest = int(train.groupby("unique_id").size().min())
    val_size = data.horizon * VAL_HORIZONS
    if shortest < data.lookback + data.horizon + val_size:
        val_size = 0  # too short to hold out a validation slice (M1): fixed steps
    max_steps = QUICK["max_steps"] if quick else MAX_STEPS
    val_check = QUICK["val_check"] if quick else VAL_CHECK
    settings: dict[str, Any] = {
        "h": data.horizon,
        "input_size": data.lookback,
        "futr_exog_list": list(data.known) or None,
        "max_steps": max_steps,
        "val_check_steps": val_check,
        "early_stop_patience_steps": PATIENCE if val_size else -1,
        "scaler_type": "robust",
        "start_padding_enabled": shortest < data.lookback + data.horizon,
        "random_seed": seed,
        **model_kwargs,
    }
    model_class = {"nhits": NHITS, "lstm": LSTM}[name]
    counter, ran = _step_counter()
    model = model_class(
        **settings,
        accelerator="cpu",
        devices=1,
        max_time={"seconds": time_limit},
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[counter],
    )
    forecaster = NeuralForecast(models=[model], freq=data.frequency)
    forecaster.fit(train, val_size=val_size)
    fit = time.perf_counter() - started
    parts = []
    for cut in parts_of:
        predicted = forecaster.predict(df=cut.history, futr_df=cut.future if data.known else None)
        predicted = predicted.rename(columns={model_class.__name__: "prediction"})
        origin = _origin_of(cut.history)
        predicted["origin"] = predicted["unique_id"].map(origin)
        parts.append(predicted)
    settings |= {"val_size": val_size, "steps_run": ran["steps"], "time_limit": time_limit}
    return _result(data, parts, started, fit, settings)


def run_nhits(
    data: ForecastSet,
    origins: Origins,
    *,
    time_limit: float,
    seed: int,
    quick: bool = False,
    **model_kwargs: Any,
) -> pd.DataFrame:
    """neuralforecast's NHITS with its default architecture (3 stacks, pooling 2/2/1, output
    downsampling 4/2/1, 512-wide MLPs)."""
    return _neural_peer(
        data, origins, "nhits", time_limit=time_limit, seed=seed, quick=quick, **model_kwargs
    )


def run_lstm(
    data: ForecastSet,
    origins: Origins,
    *,
    time_limit: float,
    seed: int,
    quick: bool = False,
    **model_kwargs: Any,
) -> pd.DataFrame:
    """neuralforecast's LSTM with its defaults (2 layers of 128, an MLP decoder of 128)."""
    return _neural_peer(
        data, origins, "lstm", time_limit=time_limit, seed=seed, quick=quick, **model_kwargs
    )


PEERS: dict[str, Callable[..., pd.DataFrame]] = {
    "seasonal_naive": run_seasonal_naive,
    "auto_ets": run_auto_ets,
    "mstl_ets": run_mstl_ets,
    "nhits": run_nhits,
    "lstm": run_lstm,
}
NEURAL = ("nhits", "lstm")


def score(data: ForecastSet, predicted: pd.DataFrame) -> float:
    """MAE of the predictions against the set's actual values."""
    keys = ["series", "timestamp"] if data.series else ["timestamp"]
    names = {data.time: "timestamp", data.target: "actual"}
    if data.series:
        names[data.series] = "series"
    actual = data.frame.rename(columns=names)[[*keys, "actual"]]
    merged = predicted.merge(actual, on=keys, how="left", validate="many_to_one")
    return float(np.mean(np.abs(merged["prediction"] - merged["actual"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 origins, 5 training steps")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", default="elecdemand", choices=list(FORECAST_SETS))
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (0: torch's default, all cores)"
    )
    args = parser.parse_args()
    if args.threads:  # one: far faster than two on a 2-core machine shared with other work
        import torch

        torch.set_num_threads(args.threads)
    data = FORECAST_SETS[args.set]()
    origins = data.origins()
    if args.quick and not isinstance(origins, str):
        origins = origins[-2:]
    shown = origins if isinstance(origins, str) else f"{origins[0]} .. {origins[-1]}"
    count = 1 if isinstance(origins, str) else len(origins)
    print(f"{data.name}: {count} origins ({shown})")
    for name in args.peers:
        extra = {"quick": args.quick} if name in NEURAL else {}
        try:
            predicted = PEERS[name](
                data, origins, time_limit=args.time_limit, seed=args.seed, **extra
            )
        except PeerNotApplicableError as error:
            print(f"{name:15s} skipped: {error}")
            continue
        attrs = predicted.attrs
        steps = attrs["settings"].get("steps_run")
        print(
            f"{name:15s} MAE {score(data, predicted):.4f}  {len(predicted)} rows  "
            f"fit {attrs['fit_seconds']:.1f} s  all {attrs['seconds']:.1f} s"
            + (f"  steps {steps}" if steps is not None else "")
        )


if __name__ == "__main__":
    main()
