"""A frame of one or more time series, checked and put on a regular grid.

:func:`read_panel` takes a long-format frame (a time column, an optional series id, the
target and covariates) and returns a :class:`Panel`: rows sorted by series then time, time
zones converted to UTC, and a row for every step of the frequency, with the target missing
(NaN) on the steps that were inserted. Duplicate timestamps, times that do not parse, and
steps off the frequency's grid are errors that name the first offender.

Example:
    >>> frame = pd.DataFrame({"t": ["2024-01-01", "2024-01-02", "2024-01-04"], "y": [1, 2, 4]})
    >>> panel = read_panel(frame, SeriesColumns(target="y", time="t"))
    >>> panel.frequency, panel.inserted, panel.target.tolist()
    ('D', 1, [1.0, 2.0, nan, 4.0])
"""

from __future__ import annotations

import itertools
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset

from deepfit.data.date_text import ISO, example_date, find_date_format
from deepfit.data.numeric_text import parse_numbers
from deepfit.errors import ConfigError, DataError
from deepfit.kinds.series.numeric_time import (
    is_numeric_column,
    is_numeric_form,
    numeric_form,
    numeric_frequency,
    numeric_times,
)

MONTH_DAYS = 28  # a step at least this long is a calendar step (month, quarter, year)
UNIT: Literal["us"] = "us"  # timestamps in microseconds: years 1 to 9999 fit (in ns they do not)
TICKS_PER_DAY = 86_400 * 10**6


@dataclass(frozen=True)
class SeriesColumns:
    """The roles of a series frame's columns; every other numeric column is a past covariate."""

    target: str
    time: str
    series: str | None = None
    known: tuple[str, ...] = ()


@dataclass
class Panel:
    """Series on a regular grid, one block of rows per series, in time order.

    ``starts[i]:starts[i + 1]`` are the rows of series ``ids[i]``. ``target`` is NaN where
    the value was missing or the step was inserted; covariates are NaN where missing.
    """

    columns: SeriesColumns
    frequency: str
    ids: list[str]
    starts: np.ndarray
    times: pd.DatetimeIndex
    target: np.ndarray
    past: np.ndarray
    known: np.ndarray
    past_names: list[str]
    inserted: int = 0
    ignored: list[str] = field(default_factory=list)
    # of text times in a spreadsheet's order (31/01/2024), or of numbers (numeric_time's forms)
    time_format: str | None = None

    def __len__(self) -> int:
        return len(self.target)

    def lengths(self) -> np.ndarray:
        """The number of steps of each series."""
        return np.diff(self.starts)

    def rows_of(self, index: int) -> slice:
        """The rows of the ``index``-th series."""
        return slice(int(self.starts[index]), int(self.starts[index + 1]))

    def last_times(self) -> pd.DatetimeIndex:
        """The last timestamp of each series."""
        return self.times[self.starts[1:] - 1]

    def head(self, ends: np.ndarray) -> Panel:
        """The first ``ends[i]`` steps of each series ``i`` (a series with none is dropped)."""
        keep = [i for i, end in enumerate(ends) if end > 0]
        rows = np.concatenate([np.arange(self.starts[i], self.starts[i] + ends[i]) for i in keep])
        return replace(
            self,
            ids=[self.ids[i] for i in keep],
            starts=np.concatenate([[0], np.cumsum([ends[i] for i in keep])]).astype(np.int64),
            times=self.times[rows],
            target=self.target[rows],
            past=self.past[rows],
            known=self.known[rows],
        )


def read_panel(
    frame: pd.DataFrame,
    columns: SeriesColumns,
    *,
    frequency: str | None = None,
    past_names: Sequence[str] | None = None,
    with_target: bool = True,
) -> Panel:
    """Check ``frame`` and put every series on one regular grid of ``frequency``.

    ``frequency`` (a pandas alias such as ``30min``, ``h``, ``D``, ``MS``) is inferred when
    not given. ``past_names`` fixes the past covariates (a fitted model's); by default they
    are every numeric or boolean column that has no other role. Without ``with_target`` the
    target column may be absent (rows of known covariates for future steps).
    """
    _check_columns(frame, columns, with_target=with_target)
    time_format = time_column_format(frame[columns.time], columns.time)
    times = parse_times(frame[columns.time], columns.time, time_format)
    ids = _series_ids(frame, columns)
    order = (
        np.lexsort((times.asi8, ids)) if columns.series else np.argsort(times.asi8, kind="stable")
    )
    frame, times, ids = frame.iloc[order], times[order], ids[order]
    _refuse_duplicates(times, ids, columns)
    if frequency is None and is_numeric_form(time_format):  # known from the numbers' form
        frequency = numeric_frequency(frame[columns.time], str(time_format))
    offset = _frequency(times, ids, frequency, columns.time)
    if past_names is None:
        past_names, ignored = _past_columns(frame, columns)
    else:
        ignored = []
        missing = [name for name in past_names if name not in frame.columns]
        if missing:
            raise DataError(
                f"the model reads the past covariate(s) {', '.join(map(repr, missing))}, "
                "which the data lacks; add them to the file"
            )
    grid, positions, starts, unique_ids = _grid(times, ids, offset, columns.time)
    n_rows = len(grid)

    def placed(values: np.ndarray) -> np.ndarray:
        full = np.full((n_rows, *values.shape[1:]), np.nan)
        full[positions] = values
        return full

    target = (
        placed(numeric_values(frame[columns.target], columns.target))
        if with_target
        else np.full(n_rows, np.nan)
    )
    past = placed(_numeric_block(frame, list(past_names)))
    known = placed(_numeric_block(frame, list(columns.known)))
    return Panel(
        columns=columns,
        frequency=offset.freqstr,
        ids=unique_ids,
        starts=starts,
        times=grid,
        target=target,
        past=past,
        known=known,
        past_names=list(past_names),
        inserted=n_rows - len(frame),
        ignored=ignored,
        time_format=time_format,
    )


def spreadsheet_format(values: pd.Series) -> str | None:
    """The one format (:func:`~deepfit.data.date_text.find_date_format`) of text times in a
    spreadsheet's order (31/01/2024 13:00), read for the whole column as a table's date
    feature is: a guess per value could read 01/02 and 13/02 in two orders. None for dates,
    ISO text, or text no one format reads."""
    if pd.api.types.is_datetime64_any_dtype(values) or is_numeric_column(values):
        return None
    date_format = find_date_format(values)
    return None if date_format == ISO else date_format


def time_column_format(values: pd.Series, name: str) -> str | None:
    """How a time column is written, when :func:`parse_times` must be told: numbers
    (:mod:`~deepfit.kinds.series.numeric_time`) or dates in a spreadsheet's order."""
    if is_numeric_column(values):
        return numeric_form(values, name)
    return spreadsheet_format(values)


def parse_times(values: pd.Series, name: str, date_format: str | None = None) -> pd.DatetimeIndex:
    """Timestamps from a column of dates, text or numbers (years, counts of steps, decimal
    years: :mod:`~deepfit.kinds.series.numeric_time`); any time zone becomes UTC.

    Example:
        >>> parse_times(pd.Series(["2024-03-31 01:00+01:00", "2024-03-31 03:00+02:00"]), "t")[1]
        Timestamp('2024-03-31 01:00:00+0000', tz='UTC')
    """
    if is_numeric_form(date_format) or is_numeric_column(values):
        if not is_numeric_column(values):  # e.g. a future file's times read as text
            numbers = parse_numbers(values)
            unread = numbers.isna() & values.notna()
            if unread.any():
                raise DataError(
                    f"time column {name!r} holds {values[unread].iloc[0]!r}, which is not a "
                    "number as the history's times are"
                )
            values = numbers
        form = date_format if is_numeric_form(date_format) else None
        return numeric_times(values, name, form or numeric_form(values, name))
    parsed = None
    if date_format is not None and not pd.api.types.is_datetime64_any_dtype(values):
        # the column's one format, and the history's for its future rows
        parsed = pd.to_datetime(values, errors="coerce", format=date_format)
        unread = parsed.isna() & values.notna()
        if unread.any():
            raise DataError(
                f"time column {name!r} holds {values[unread].iloc[0]!r}, which is not a time "
                f"written as the others are (such as {example_date(date_format)})"
            )
    # As given; then with mixed UTC offsets (local time across a daylight-saving change) as
    # UTC; then each value in its own format (a date beside a date and time).
    attempts: tuple[dict[str, Any], ...] = (
        {},
        {"format": "mixed"},
        {"utc": True, "format": "mixed"},
    )
    for options in attempts if parsed is None else ():
        try:
            with warnings.catch_warnings():  # pandas 2 warns, and keeps objects, on mixed offsets
                warnings.simplefilter("ignore")
                attempt = pd.to_datetime(values, **options)
        except (ValueError, TypeError, OverflowError):
            continue
        if pd.api.types.is_datetime64_any_dtype(attempt):
            parsed = attempt
            break
    if parsed is None:
        raise DataError(
            f"time column {name!r} does not parse as dates (first bad value: "
            f"{_first_unparsed(values)!r}); give dates such as 2024-01-31 or 2024-01-31 13:30"
        )
    index = pd.DatetimeIndex(parsed).as_unit(UNIT)
    if index.tz is not None:
        index = index.tz_convert("UTC")
    if index.hasnans:
        row = int(np.flatnonzero(index.isna())[0])
        raise DataError(f"time column {name!r} is empty at row {row + 1}; fill or drop that row")
    return index


def numeric_values(values: pd.Series, name: str) -> np.ndarray:
    """A column as float64, NaN where missing; text or infinities are errors."""
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    converted = parse_numbers(values)
    bad = converted.isna() & values.notna()
    if bad.any():
        first = values[bad].iloc[0]
        raise DataError(
            f"column {name!r} must be numeric, however it holds {first!r}; fix or drop those rows"
        )
    array = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(array).any():
        raise DataError(f"column {name!r} holds infinite values; replace them or drop those rows")
    return array


def _check_columns(frame: pd.DataFrame, columns: SeriesColumns, *, with_target: bool) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"series data must be a pandas DataFrame, however: {type(frame).__name__}")
    if frame.columns.has_duplicates:
        duplicated = frame.columns[frame.columns.duplicated()][0]
        raise DataError(f"column {duplicated!r} appears twice; give each column a unique name")
    roles = [columns.time, *([columns.series] if columns.series else []), *columns.known]
    if with_target:
        roles.append(columns.target)
    missing = [name for name in roles if name not in frame.columns]
    if missing:
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} not found; the data has "
            f"{', '.join(map(str, frame.columns[:12]))}{' ...' if frame.shape[1] > 12 else ''}"
        )
    if len(frame) == 0:
        raise DataError("the series data has no rows")
    overlap = {columns.target, columns.time, columns.series} & set(columns.known)
    if overlap:
        raise ConfigError(
            f"{', '.join(map(repr, sorted(map(str, overlap))))} cannot be a known covariate: "
            "it is the target, the time or the series column"
        )


def _series_ids(frame: pd.DataFrame, columns: SeriesColumns) -> np.ndarray:
    if columns.series is None:
        return np.zeros(len(frame), dtype=object).astype(str)
    values = frame[columns.series]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise DataError(
            f"series column {columns.series!r} is empty at row {row + 1}; fill or drop that row"
        )
    return values.astype(str).to_numpy()


def _refuse_duplicates(times: pd.DatetimeIndex, ids: np.ndarray, columns: SeriesColumns) -> None:
    same = (times.asi8[1:] == times.asi8[:-1]) & (ids[1:] == ids[:-1])
    if same.any():
        first = int(np.flatnonzero(same)[0]) + 1
        where = f" in series {ids[first]!r}" if columns.series else ""
        raise DataError(
            f"timestamp {times[first]} appears more than once{where}; keep one row per "
            f"{'series and ' if columns.series else ''}time step"
        )


def _frequency(
    times: pd.DatetimeIndex, ids: np.ndarray, given: str | None, name: str
) -> BaseOffset:
    if given is not None:
        try:
            return to_offset(given)
        except ValueError as error:
            raise ConfigError(
                f"frequency {given!r} is not a pandas frequency; use e.g. 30min, h, D, W, MS, YS"
            ) from error
    boundaries = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    blocks = np.split(np.arange(len(times)), boundaries)
    inferred: Counter[str] = Counter()
    for block in sorted(blocks, key=len, reverse=True)[:50]:
        if len(block) >= 3:
            with warnings.catch_warnings():  # pandas 3 warns that it will return an offset
                warnings.simplefilter("ignore")
                alias = pd.infer_freq(times[block])
            if alias is not None:
                inferred[str(getattr(alias, "freqstr", alias))] += 1
    if inferred:
        return to_offset(inferred.most_common(1)[0][0])
    steps = np.concatenate([np.diff(times.asi8[block]) for block in blocks])
    if len(steps) == 0:
        raise DataError(
            f"the frequency of {name!r} cannot be inferred from one timestamp per series; "
            "pass --frequency (frequency=), e.g. D"
        )
    step = int(np.min(steps))
    if step < MONTH_DAYS * TICKS_PER_DAY and not np.any(steps % step):
        return _fixed_offset(step)
    other = int(steps[steps % step != 0][0]) if np.any(steps % step) else int(np.max(steps))
    raise DataError(
        f"the frequency of {name!r} cannot be inferred (its steps vary, e.g. "
        f"{pd.Timedelta(step, unit=UNIT)} and {pd.Timedelta(other, unit=UNIT)}); "
        "pass --frequency (frequency=), e.g. 30min, h, D, W, MS, YS"
    )


def _fixed_offset(ticks: int) -> BaseOffset:
    """A step of ``ticks`` microseconds in the largest whole unit: 2 days as 2D, not 48h."""
    for alias, size in (("D", TICKS_PER_DAY), ("h", 3_600 * 10**6), ("min", 60 * 10**6)):
        if ticks % size == 0:
            return to_offset(f"{ticks // size}{alias}")
    return to_offset(pd.Timedelta(ticks, unit=UNIT))


def _grid(
    times: pd.DatetimeIndex, ids: np.ndarray, offset: BaseOffset, name: str
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, list[str]]:
    """Every series' full range of steps; where each row lands; offsets; the ids in order."""
    boundaries = np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1, [len(ids)]])
    grids, positions, starts, unique_ids = [], [], [0], []
    for begin, end in itertools.pairwise(boundaries):
        observed = times[begin:end]
        grid = pd.date_range(observed[0], observed[-1], freq=offset, unit=UNIT)
        if len(grid) == 0 or grid[0] != observed[0]:
            raise DataError(
                f"timestamp {observed[0]} is not on a {offset.freqstr} grid; pass the right "
                "--frequency (frequency=) or fix the timestamps"
            )
        place = grid.get_indexer(observed)
        if (place < 0).any():
            bad = observed[int(np.flatnonzero(place < 0)[0])]
            raise DataError(
                f"timestamp {bad} in {name!r} is off the {offset.freqstr} grid that starts at "
                f"{observed[0]}; pass the right --frequency (frequency=) or fix the timestamp"
            )
        positions.append(place + starts[-1])
        grids.append(grid)
        starts.append(starts[-1] + len(grid))
        unique_ids.append(str(ids[begin]))
    grid_times = pd.DatetimeIndex(grids[0].append(grids[1:]) if len(grids) > 1 else grids[0])
    return grid_times, np.concatenate(positions), np.asarray(starts, dtype=np.int64), unique_ids


def _past_columns(frame: pd.DataFrame, columns: SeriesColumns) -> tuple[list[str], list[str]]:
    """Every other numeric or boolean column (past covariates), and the columns left out."""
    roles = {columns.target, columns.time, columns.series, *columns.known}
    past, ignored = [], []
    for name in frame.columns:
        if name in roles:
            continue
        dtype = frame[name].dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            past.append(str(name))
        else:
            ignored.append(str(name))
    return past, ignored


def _numeric_block(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    if not names:
        return np.zeros((len(frame), 0))
    return np.column_stack([numeric_values(frame[name], name) for name in names])


def _first_unparsed(values: pd.Series) -> object:
    for value in values:
        try:
            pd.to_datetime([value], utc=True, format="mixed")
        except (ValueError, TypeError, OverflowError):
            return value
    return values.iloc[0]
