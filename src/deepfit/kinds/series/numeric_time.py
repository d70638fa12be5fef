"""Time columns written as numbers: years or step counts (1871, 1872, ...; 1, 2, 3, ...),
the decimal years of R's monthly and quarterly series (1949.0, 1949.0833, ...), and dates
written as whole numbers (20240131, or 202401 for a month).

The panel works in timestamps, so each form is read as one and written back as it came:

* whole numbers are steps of one year each, ``t`` becoming 1 January of year ``t`` (or of
  ``t + shift`` for counts from 0 or below, so that every year lies from 1 to 9999). A yearly
  step has no calendar features, so a count of steps gains no made-up cycles;
* fractions of a year in twelfths or quarters (R's ``time(ts)``) are month or quarter starts,
  with the calendar features of a monthly or quarterly series;
* eight digits that are all valid dates (``YYYYMMDD``), or six that are all valid months
  (``YYYYMM``), are those dates, with their calendar and their frequency inferred as for text.

The form is a text kept where a text time's format is kept (``Panel.time_format``): ``"steps"``
with its shift (``"steps+1"``), ``"decimal years/12"``, or ``"digits %Y%m%d"``.

Example:
    >>> form = numeric_form(pd.Series([1949.0, 1949 + 1 / 12, 1949 + 2 / 12]), "time")
    >>> form, [str(t.date()) for t in numeric_times(pd.Series([1949.0, 1949.25]), "t", form)]
    ('decimal years/12', ['1949-01-01', '1949-04-01'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfit.errors import DataError

STEPS = "steps"
DECIMAL_YEARS = "decimal years/"
DIGITS = "digits "
# dates written as whole numbers: the format, and the smallest and largest such number
DIGIT_DATES = (("%Y%m%d", 10000101, 99991231), ("%Y%m", 100001, 999912))
PERIODS = (2, 4, 12)  # fractions of a year that R's series use: halves, quarters, months
MAX_YEAR = 9999
HEADROOM = 1000  # years left above the history for forecasts and future rows
TOLERANCE = 1e-4  # of a year: how far a decimal year may sit from its month (R prints 15 digits)


def is_numeric_form(time_format: str | None) -> bool:
    """Whether ``time_format`` is one of this module's forms."""
    return time_format is not None and time_format.startswith((STEPS, DECIMAL_YEARS, DIGITS))


def is_numeric_column(values: pd.Series) -> bool:
    """Whether a column holds numbers (booleans are not times)."""
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def numeric_form(values: pd.Series, name: str) -> str:
    """The form of a numeric time column, or a DataError saying why it is not a time."""
    numbers = _finite(values, name)
    if not _fractional(numbers).any():
        whole = np.round(numbers)
        date_format = _digit_date_format(whole)
        if date_format is not None:
            return f"{DIGITS}{date_format}"
        low, high = float(whole.min()), float(whole.max())
        if high - low > MAX_YEAR - HEADROOM - 1:
            raise DataError(
                f"time column {name!r} holds whole numbers over {high - low:,.0f} steps, more "
                f"than the {MAX_YEAR - HEADROOM - 1:,} that numbered steps may span; give dates "
                "or timestamps such as 2024-01-31 13:30 instead"
            )
        shift = 0 if low >= 1 and high <= MAX_YEAR - HEADROOM else int(1 - low)
        return f"{STEPS}{shift:+d}" if shift else STEPS
    period = _period(numbers)
    if period is None:
        raise DataError(
            f"time column {name!r} holds numbers such as {_example(numbers)}, which are neither "
            "whole steps nor months or quarters of a year; give dates such as 2024-01-31 or "
            "2024-01-31 13:30"
        )
    return f"{DECIMAL_YEARS}{period}"


def numeric_times(values: pd.Series, name: str, form: str) -> pd.DatetimeIndex:
    """The timestamps a numeric time column of ``form`` stands for."""
    numbers = _finite(values, name)
    if form.startswith(DIGITS):
        date_format = form[len(DIGITS) :]
        parsed = _digit_dates(numbers, date_format)
        bad = numbers[parsed.isna() | _fractional(numbers)]
        if len(bad):
            raise DataError(
                f"time column {name!r} holds {_example(bad)}, which is not a date written as "
                f"the history's are ({date_format.replace('%', '').upper()}, e.g. "
                f"{pd.Timestamp('2024-01-31').strftime(date_format)})"
            )
        return parsed.as_unit("us")
    if form.startswith(STEPS):
        years = np.round(numbers).astype(np.int64) + _shift(form)
        if _fractional(numbers).any() or years.min() < 1:
            raise DataError(
                f"time column {name!r} holds {_example(numbers)}, which is not a step as the "
                "history's whole numbers are"
            )
        return _index(years, np.ones_like(years))
    period = int(form[len(DECIMAL_YEARS) :])
    years = np.floor(numbers + TOLERANCE).astype(np.int64)
    slots = np.round((numbers - years) * period).astype(np.int64)
    off = np.abs(numbers - (years + slots / period)) > TOLERANCE
    if off.any():
        raise DataError(
            f"time column {name!r} holds {_example(numbers[off])}, which is not a step of "
            f"1/{period} year as the other times are"
        )
    return _index(years, slots * (12 // period) + 1)


def numeric_frequency(values: pd.Series, form: str) -> str | None:
    """The step of a numeric time column of ``form`` as a pandas frequency: the largest that
    divides every gap between its times (a count by 5 is every 5 years), months for R's
    monthly decimal years, 3 months for quarters; None for dates written as digits (inferred
    from the dates, as for text)."""
    if form.startswith(DIGITS):
        return None
    if form.startswith(DECIMAL_YEARS):
        return {12: "MS", 4: "QS", 2: "6MS"}[int(form[len(DECIMAL_YEARS) :])]
    numbers = np.unique(np.round(values.to_numpy(dtype=np.float64)).astype(np.int64))
    step = int(np.gcd.reduce(np.diff(numbers))) if len(numbers) > 1 else 1
    return f"{step}YS" if step > 1 else "YS"


def as_given(times: pd.DatetimeIndex, form: str | None) -> pd.DatetimeIndex | np.ndarray:
    """``times`` written as the time column wrote them: numbers for a numeric form."""
    if form is None or not is_numeric_form(form):
        return times
    if form.startswith(DIGITS):
        return np.asarray(times.strftime(form[len(DIGITS) :]), dtype=np.int64)
    years = times.year.to_numpy(dtype=np.int64)
    if form.startswith(STEPS):
        return years - _shift(form)
    return np.round(years + (times.month.to_numpy() - 1) / 12, 10)


def _shift(form: str) -> int:
    return int(form[len(STEPS) :] or 0)


def _index(years: np.ndarray, months: np.ndarray) -> pd.DatetimeIndex:
    if years.min(initial=1) < 1 or years.max(initial=1) > MAX_YEAR:
        raise DataError(
            f"numbered times reach year {int(years.max())}, past {MAX_YEAR}; give dates instead"
        )
    starts = (years - 1970).astype("datetime64[Y]").astype("datetime64[M]")
    return pd.DatetimeIndex(
        (starts + (months - 1).astype("timedelta64[M]")).astype("datetime64[us]")
    )


def _finite(values: pd.Series, name: str) -> np.ndarray:
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(numbers).any():
        row = int(np.flatnonzero(np.isnan(numbers))[0])
        raise DataError(f"time column {name!r} is empty at row {row + 1}; fill or drop that row")
    if not np.isfinite(numbers).all() or np.abs(numbers).max(initial=0.0) > 1e8:
        raise DataError(
            f"time column {name!r} holds numbers such as {_example(numbers)}, too large to be "
            "years or counts of steps; give dates or timestamps (for seconds since 1970: "
            "pandas.to_datetime(column, unit='s'))"
        )
    return numbers


def _digit_date_format(whole: np.ndarray) -> str | None:
    """``%Y%m%d`` or ``%Y%m`` when every number is a date written in those digits."""
    for date_format, low, high in DIGIT_DATES:
        in_range = whole.min() >= low and whole.max() <= high
        if in_range and not _digit_dates(whole, date_format).isna().any():
            return date_format
    return None


def _digit_dates(numbers: np.ndarray, date_format: str) -> pd.DatetimeIndex:
    """Whole numbers read as dates in ``date_format``'s digits; NaT where they are not."""
    text = pd.Series(np.round(numbers).astype(np.int64).astype(str))
    return pd.DatetimeIndex(pd.to_datetime(text, format=date_format, errors="coerce"))


def _fractional(numbers: np.ndarray) -> np.ndarray:
    """Where a number is not whole."""
    return np.asarray(np.abs(numbers - np.round(numbers)) > 1e-9)


def _period(numbers: np.ndarray) -> int | None:
    """The steps per year of decimal years (12 for months), or None when there is none."""
    fractions = numbers - np.floor(numbers + TOLERANCE)
    for period in PERIODS:
        if np.all(np.abs(fractions * period - np.round(fractions * period)) < TOLERANCE * period):
            return period
    return None


def _example(numbers: np.ndarray) -> str:
    return f"{float(numbers[0]):g}" if len(numbers) else "none"
