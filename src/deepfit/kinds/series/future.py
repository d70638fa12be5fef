"""The steps to forecast: each series' history followed by its next ``horizon`` steps.

Known covariates for those steps come from rows the user gives (``--future``); a model that
reads known covariates and gets none, or gets rows that do not follow the history, is told
which columns and steps are missing.

Example:
    >>> from deepfit.kinds.series.panel import SeriesColumns, read_panel
    >>> frame = pd.DataFrame({"t": pd.date_range("2024", periods=3, freq="D"), "y": [1, 2, 3]})
    >>> panel = read_panel(frame, SeriesColumns(target="y", time="t"))
    >>> [str(t.date()) for t in extend(panel, 2, None).times[-2:]]
    ['2024-01-04', '2024-01-05']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from deepfit.errors import DataError
from deepfit.kinds.series.panel import UNIT, Panel, numeric_values, parse_times

SERIES_KEY, TIME_KEY = "__series", "__time"


def future_times(panel: Panel, horizon: int) -> list[pd.DatetimeIndex]:
    """The ``horizon`` timestamps after the end of each series."""
    offset = to_offset(panel.frequency)
    return [
        pd.date_range(last + offset, periods=horizon, freq=offset, unit=UNIT)
        for last in panel.last_times()
    ]


def extend(panel: Panel, horizon: int, future: pd.DataFrame | None) -> Panel:
    """``panel`` with ``horizon`` more steps per series: target and past covariates missing,
    known covariates from ``future`` (required when the panel has any)."""
    ahead = future_times(panel, horizon)
    known = _known_ahead(panel, ahead, future)
    n_series = len(panel.ids)
    lengths = panel.lengths()
    new_starts = panel.starts + np.arange(n_series + 1) * horizon
    old_rows = np.concatenate(
        [np.arange(new_starts[i], new_starts[i] + lengths[i]) for i in range(n_series)]
    )
    new_rows = np.concatenate(
        [np.arange(new_starts[i + 1] - horizon, new_starts[i + 1]) for i in range(n_series)]
    )
    n_rows = len(panel) + n_series * horizon

    def merged(old: np.ndarray, new: np.ndarray) -> np.ndarray:
        out = np.full((n_rows, *old.shape[1:]), np.nan)
        out[old_rows], out[new_rows] = old, new
        return out

    ticks = np.empty(n_rows, dtype=np.int64)
    ticks[old_rows] = panel.times.asi8
    ticks[new_rows] = np.concatenate([index.asi8 for index in ahead])
    times = pd.DatetimeIndex(pd.to_datetime(ticks, unit=UNIT)).as_unit(UNIT)
    return Panel(
        columns=panel.columns,
        frequency=panel.frequency,
        ids=list(panel.ids),
        starts=new_starts.astype(np.int64),
        times=times.tz_localize("UTC") if panel.times.tz is not None else times,
        target=merged(panel.target, np.full(n_series * horizon, np.nan)),
        past=merged(panel.past, np.full((n_series * horizon, panel.past.shape[1]), np.nan)),
        known=merged(panel.known, known),
        past_names=list(panel.past_names),
        inserted=panel.inserted,
        time_format=panel.time_format,
    )


def _known_ahead(
    panel: Panel, ahead: list[pd.DatetimeIndex], future: pd.DataFrame | None
) -> np.ndarray:
    names = list(panel.columns.known)
    steps = sum(len(index) for index in ahead)
    if not names:
        return np.zeros((steps, 0))
    horizon = len(ahead[0])
    if future is None:
        raise DataError(
            f"the model reads the known covariate(s) {', '.join(names)} at the {horizon} steps "
            f"after the history (from {ahead[0][0]} to {ahead[0][-1]}); pass them with "
            "--future (future=)"
        )
    columns = panel.columns
    missing = [
        n
        for n in [columns.time, *([columns.series] if columns.series else []), *names]
        if n not in future.columns
    ]
    if missing:
        raise DataError(f"the future rows lack column(s) {', '.join(missing)}; add them")
    wanted = pd.DataFrame(
        {
            SERIES_KEY: np.repeat(panel.ids, [len(index) for index in ahead]),
            TIME_KEY: np.concatenate([index.asi8 for index in ahead]),
        }
    )
    future_stamps = parse_times(future[columns.time], columns.time, panel.time_format)
    given = pd.DataFrame(
        {
            SERIES_KEY: future[columns.series].astype(str).to_numpy()
            if columns.series
            else np.full(len(future), panel.ids[0]),
            TIME_KEY: _same_zone(future_stamps, panel).asi8,
            **{name: numeric_values(future[name], name) for name in names},
        }
    )
    if given.duplicated([SERIES_KEY, TIME_KEY]).any():
        first = given[given.duplicated([SERIES_KEY, TIME_KEY])].iloc[0]
        raise DataError(
            f"future timestamp {_stamp(first[TIME_KEY])} appears more than once; keep one row "
            "per step"
        )
    merged = wanted.merge(given, on=[SERIES_KEY, TIME_KEY], how="left", indicator=True)
    stray = given.merge(wanted, on=[SERIES_KEY, TIME_KEY], how="left", indicator=True)
    if (stray["_merge"] == "left_only").any():
        first = stray[stray["_merge"] == "left_only"].iloc[0]
        name = first[SERIES_KEY]
        where = f" of series {name!r}" if columns.series else ""
        if name not in panel.ids:
            raise DataError(f"future rows name series {name!r}, which the history lacks")
        raise DataError(
            f"future row at {_stamp(first[TIME_KEY])}{where} does not follow the history: the "
            f"{horizon} steps to forecast are {ahead[panel.ids.index(name)][0]} to "
            f"{ahead[panel.ids.index(name)][-1]}; give rows for exactly those steps"
        )
    values = merged[names].to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        row = int(np.flatnonzero(np.isnan(values).any(axis=1))[0])
        lacking = [n for n, v in zip(names, values[row], strict=True) if np.isnan(v)]
        where = f" for series {merged[SERIES_KEY][row]!r}" if columns.series else ""
        raise DataError(
            f"the future rows lack {', '.join(lacking)} at {_stamp(merged[TIME_KEY][row])}{where}; "
            f"the model needs {', '.join(names)} at each of the {horizon} steps after the history"
        )
    return values


def _stamp(ticks: object) -> pd.Timestamp:
    return pd.Timestamp(int(ticks), unit=UNIT)  # type: ignore[call-overload]


def _same_zone(times: pd.DatetimeIndex, panel: Panel) -> pd.DatetimeIndex:
    if panel.times.tz is None and times.tz is not None:
        return times.tz_localize(None)
    if panel.times.tz is not None and times.tz is None:
        return times.tz_localize("UTC")
    return times
