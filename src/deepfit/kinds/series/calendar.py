"""Calendar features: cycles of the timestamp known in advance, as sine and cosine pairs.

Which cycles a series gets depends on its frequency: a half-hourly series gets the time of
day, the day of the week and the day of the year; a daily one the last two; a monthly one
the month of the year; a yearly one none (a cycle no shorter than the step carries nothing).

Example:
    >>> calendar_names("h")
    ['day_sin', 'day_cos', 'week_sin', 'week_cos', 'year_sin', 'year_cos']
    >>> calendar_names("YS")
    []
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

DAY = 86_400.0
CYCLES = {"day": DAY, "week": 7 * DAY, "year": 365.2425 * DAY}


def step_seconds(frequency: str) -> float:
    """The nominal length of one step in seconds (a month as 30.4 days, a year as 365.2)."""
    offset = to_offset(frequency)
    try:
        return float(pd.Timedelta(offset).total_seconds())  # type: ignore[arg-type]
    except ValueError:  # calendar offsets (months, quarters, years) have no fixed length
        stamp = pd.Timestamp("2001-01-01")
        span = (stamp + 12 * offset) - stamp
        return float(span.total_seconds()) / 12


def calendar_names(frequency: str) -> list[str]:
    """The features :func:`calendar_features` makes for ``frequency``, in order."""
    step = step_seconds(frequency)
    return [f"{cycle}_{part}" for cycle in _cycles(step) for part in ("sin", "cos")]


def calendar_features(times: pd.DatetimeIndex, frequency: str) -> np.ndarray:
    """``[len(times), len(calendar_names(frequency))]`` float64 features of each timestamp."""
    cycles = _cycles(step_seconds(frequency))
    if not cycles:
        return np.zeros((len(times), 0))
    naive = times.tz_localize(None) if times.tz is not None else times
    seconds_of_day = (
        naive.hour.to_numpy() * 3600.0 + naive.minute.to_numpy() * 60.0 + naive.second.to_numpy()
    )
    phases = {
        "day": seconds_of_day / DAY,
        "week": (naive.day_of_week.to_numpy() + seconds_of_day / DAY) / 7.0,
        "year": (naive.day_of_year.to_numpy() - 1 + seconds_of_day / DAY)
        / np.where(naive.is_leap_year, 366.0, 365.0),
    }
    columns = []
    for cycle in cycles:
        angle = 2 * np.pi * phases[cycle]
        columns += [np.sin(angle), np.cos(angle)]
    return np.column_stack(columns)


def _cycles(step: float) -> list[str]:
    return [cycle for cycle, length in CYCLES.items() if length > 1.5 * step]
