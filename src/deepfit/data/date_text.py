"""Dates written as text: ISO 8601, or the day-month-year orders spreadsheets write.

ISO 8601 (``2024-01-31``, ``2024-01-31T13:30:00+01:00``) is read first. A column that is not
ISO, but whose every value one of :data:`DATE_FORMATS` reads, is a date column in that format:
``01/31/2024``, ``31.01.2024``, ``31/01/2024 13:30``. The format is found once, on the training
rows (:func:`find_date_format`), kept with the model, and every later row is read with it (or
as ISO 8601), so a model never reads ``03/04/2024`` as March at training and April at
prediction.

Month-first is tried before day-first, as pandas and US spreadsheets do: a column whose days
are all 12 or less cannot tell the two apart, and one value with a first field above 12 makes
it day-first. Two-digit years are tried before four-digit ones (``%y`` reads ``24`` as 2024;
``%Y`` would read it as the year 24).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ISO = "ISO8601"
_DAYS = (
    "%m/%d/%y",
    "%m/%d/%Y",
    "%d/%m/%y",
    "%d/%m/%Y",
    "%m-%d-%y",
    "%m-%d-%Y",
    "%d-%m-%y",
    "%d-%m-%Y",
    "%d.%m.%y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d %b %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%B %d, %Y",
)
_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
DATE_FORMATS: tuple[str, ...] = (ISO, *(day + time for day in _DAYS for time in _TIMES))
SAMPLE_VALUES = 2_000  # distinct values tried per format


def find_date_format(values: pd.Series) -> str | None:
    """The first of :data:`DATE_FORMATS` that reads every one of (up to
    :data:`SAMPLE_VALUES` distinct) present ``values``, or None if none does, or if the
    values do not look like dates (no digit, or shorter than 6 characters).

    Example:
        >>> find_date_format(pd.Series(["01/31/2024", "02/01/2024"]))
        '%m/%d/%Y'
        >>> find_date_format(pd.Series(["13.01.24", None]))
        '%d.%m.%y'
        >>> find_date_format(pd.Series(["red", "blue"])) is None
        True
    """
    text = pd.Series(pd.unique(values.dropna().astype("string").str.strip()), dtype="string")
    sample = text.iloc[:SAMPLE_VALUES]
    if sample.empty or sample.str.len().min() < 6:
        return None
    if not sample.str.contains(r"\d", regex=True).all():
        return None
    first = sample.iloc[:1]
    for date_format in DATE_FORMATS:
        if parse_dates(first, date_format).isna().any():  # most formats fail on the first value
            continue
        if bool(parse_dates(sample, date_format).notna().all()):
            return date_format
    return None


def parse_dates(values: pd.Series, date_format: str = ISO) -> pd.Series:
    """``values`` read as dates in ``date_format``, or in ISO 8601 (which starts with the
    year, so no other format can be mistaken for it); NaT where a value is missing or
    neither. In UTC: local times across a daylight-saving change have two offsets.

    Example:
        >>> parse_dates(pd.Series(["31.01.2024", "2024-02-01"]), "%d.%m.%Y").dt.day.tolist()
        [31, 1]
    """
    stamps = pd.to_datetime(values, errors="coerce", format=date_format, utc=True)
    unread = stamps.isna() & values.notna()
    if date_format != ISO and unread.any():
        stamps[unread] = pd.to_datetime(values[unread], errors="coerce", format=ISO, utc=True)
    return stamps


def read_dates(values: pd.Series) -> pd.Series:
    """``values`` as dates in UTC, in the format :func:`find_date_format` finds (ISO 8601 if
    none): for showing a column whose model is not at hand.

    Example:
        >>> read_dates(pd.Series(["31.01.2024", None])).dt.month.tolist()
        [1.0, nan]
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    return parse_dates(values, find_date_format(values) or ISO)


def check_date_format(value: object) -> str:
    """``value`` if it is one of :data:`DATE_FORMATS` (as read back from a saved file)."""
    if not isinstance(value, str) or value not in DATE_FORMATS:
        raise ValueError(f"unknown date format {value!r}")
    return value


def example_date(date_format: str) -> str:
    """31 January 2024 at 13:30 written in ``date_format``, for error messages.

    Example:
        >>> example_date("%d.%m.%Y")
        '31.01.2024'
    """
    if date_format == ISO:
        return "2024-01-31"
    return pd.Timestamp(np.datetime64("2024-01-31T13:30")).strftime(date_format)
