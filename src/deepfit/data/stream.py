"""Tables larger than memory, read a piece at a time.

A Parquet file is read by row group (pyarrow). A CSV file is read once by pyarrow's streaming
reader and written to a Parquet copy in a temporary folder, so that every later pass (each
epoch, each process) reads any piece in any order at Parquet's speed. :func:`plan_memory`
decides, before anything is read in full, whether a file fits the memory budget.

Example:
    >>> plan = plan_memory(Path("big.parquet"), budget=parse_size("2GB"))  # doctest: +SKIP
    >>> plan.stream  # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from deepfit.data.io import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    check_file,
    check_unique_columns,
    csv_header,
    delimiter,
    encoding_error,
    encoding_of,
    given_encoding,
    read_table,
)
from deepfit.errors import ConfigError, DataError

PIECE_ROWS = 131_072  # rows per row group of a CSV's Parquet copy, and per slice read
HEAD_ROWS = 50_000  # the rows the schema and the size estimate come from
IN_MEMORY_COPIES = 4  # the in-memory path holds about this many copies of the frame at its peak
COMPRESSED_RATIO = 5.0  # a compressed CSV's text is taken as this many times its file
CSV_BLOCK_BYTES = 16 << 20
SNIFF_LINES_BYTES = 4 << 20  # the start of a CSV whose lines estimate its rows
UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str | int) -> int:
    """Bytes from a size such as ``2GB``, ``512MB``, ``1.5G`` or ``1000000``.

    Example:
        >>> parse_size("2GB"), parse_size("512m"), parse_size(0)
        (2147483648, 536870912, 0)
    """
    if isinstance(text, int):
        value = text
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(text))
        if match is None:
            raise ConfigError(
                f"memory budget {text!r} is not a size; write it like 2GB, 512MB or 1.5G"
            )
        value = int(float(match.group(1)) * UNITS[match.group(2).upper()])
    if value < 0:
        raise ConfigError(f"memory budget must be at least 0 bytes, however: {text!r}")
    return value


def format_size(n_bytes: float) -> str:
    """``n_bytes`` for people: ``3.2 GB``, ``180 MB``.

    Example:
        >>> format_size(3.4e9), format_size(180e6)
        ('3.2 GB', '172 MB')
    """
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n_bytes >= size:
            value = n_bytes / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(n_bytes)} B"


def default_budget() -> int:
    """Half the memory this machine has available now (Linux's MemAvailable), else 4 GB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


@dataclass(frozen=True)
class MemoryPlan:
    """Whether a file is streamed: its rows, its estimated size as a frame, and the budget."""

    path: Path
    rows: int
    rows_exact: bool
    frame_bytes: int
    budget: int

    @property
    def stream(self) -> bool:
        """Stream when the in-memory path's peak (a few copies of the frame) passes the budget."""
        return self.frame_bytes * IN_MEMORY_COPIES > self.budget

    def line(self) -> str:
        """What ``train`` and ``predict`` print about the path taken."""
        about = "" if self.rows_exact else "about "
        path = "streaming it a piece at a time" if self.stream else "reading it into memory"
        return (
            f"{self.path.name}: {about}{self.rows:,} rows, about {format_size(self.frame_bytes)} "
            f"as a frame (memory budget {format_size(self.budget)}): {path}"
        )


def is_table_file(path: Path) -> bool:
    """Whether ``path`` names a file that :func:`plan_memory` can plan for."""
    suffix = path.suffix.lower()
    return path.is_file() and (suffix in PARQUET_SUFFIXES or suffix in CSV_SUFFIXES or not suffix)


def plan_memory(
    path: Path, budget: int | None = None, *, encoding: str | None = None
) -> MemoryPlan:
    """How many rows ``path`` holds, how large they are as a frame, and so whether to stream.

    Only the file's metadata and its first rows are read.
    """
    budget = default_budget() if budget is None else budget
    check_file(path)
    sample = head(path, HEAD_ROWS, encoding=encoding)
    per_row = max(1.0, float(sample.memory_usage(deep=True, index=False).sum()) / len(sample))
    if is_parquet(path):
        rows, exact = pq.ParquetFile(path).metadata.num_rows, True
    else:
        rows, exact = _csv_rows(path, len(sample))
    return MemoryPlan(path, rows, exact, int(per_row * rows), budget)


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def head(path: Path, rows: int = HEAD_ROWS, *, encoding: str | None = None) -> pd.DataFrame:
    """The first ``rows`` rows of ``path``, read as :func:`read_table` reads the whole file
    (``encoding``: as :func:`~deepfit.data.io.read_table` takes it)."""
    if not is_parquet(path):
        if path.suffix.lower() == ".zip":
            # pandas reads a zip whole; so does the rest of the run
            return read_table(path, encoding=encoding)
        given = given_encoding(encoding)
        text = encoding_of(path, given)
        try:
            separator = delimiter(path, text)
            check_unique_columns(csv_header(path, separator, text), f"the header of {path}")
            frame = pd.read_csv(path, sep=separator, nrows=rows, low_memory=False, encoding=text)
        except UnicodeDecodeError as error:
            raise encoding_error(path, error, given) from error
        except DataError:
            raise
        except (pd.errors.ParserError, OSError, ValueError) as error:
            raise DataError(
                f"cannot read {path}: {_reason(error)}; is it a valid CSV file?"
            ) from error
        if frame.empty:
            raise DataError(f"{path} has a header but no data rows; add data rows below the header")
        return frame.set_axis([str(c) for c in frame.columns], axis=1)
    try:
        parquet = pq.ParquetFile(path)
        batch = next(parquet.iter_batches(batch_size=rows), None)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DataError(
            f"cannot read {path}: {_reason(error)}; is it a valid Parquet file?"
        ) from error
    if batch is None or batch.num_rows == 0:
        raise DataError(f"{path} has no data rows; add data rows below the header")
    frame = batch.to_pandas()
    names = [str(c) for c in frame.columns]
    check_unique_columns(names, str(path))
    return frame.set_axis(names, axis=1)


def _csv_rows(path: Path, sample_rows: int) -> tuple[int, bool]:
    """The rows of a CSV: counted when the head held them all, else estimated from the bytes
    per line of its start."""
    with pa.input_stream(str(path), compression="detect") as handle:
        start = handle.read(SNIFF_LINES_BYTES)
    lines = start.count(b"\n")
    if len(start) < SNIFF_LINES_BYTES:
        return sample_rows, True
    size = path.stat().st_size
    if path.suffix.lower() in {".gz", ".bz2", ".xz", ".zip"}:
        size = int(size * COMPRESSED_RATIO)
    return max(sample_rows, int(size / max(1.0, len(start) / max(1, lines)))), False


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class TableFile:
    """A Parquet file opened for reading by piece: each row group is a piece.

    ``path`` is the user's file; ``source`` the Parquet file read (the same file, or a CSV's
    Parquet copy). A piece's frame is indexed by its rows' numbers in the whole file.

    Example:
        >>> table = TableFile(Path("big.parquet"))  # doctest: +SKIP
        >>> table.read(0).index[0], len(table.piece_rows)  # doctest: +SKIP
        (0, 20)
    """

    def __init__(self, path: Path, source: Path | None = None) -> None:
        self.path = path
        self.source = source or path
        try:
            metadata = pq.ParquetFile(self.source).metadata
        except (pa.ArrowException, OSError) as error:
            raise DataError(
                f"cannot read {path}: {_reason(error)}; is it a valid Parquet file?"
            ) from error
        self.columns = [str(metadata.schema.column(i).name) for i in range(metadata.num_columns)]
        self.piece_rows = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        self.starts = [0, *np.cumsum(self.piece_rows).tolist()][:-1]
        self.n_rows = int(sum(self.piece_rows))

    def read(
        self,
        index: int,
        columns: Sequence[str] | None = None,
        keep: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """The rows of piece ``index`` (only ``columns``, when given; only the rows whose
        numbers ``keep`` marks True, when given)."""
        return pd.concat(list(self.read_slices(index, columns, keep)))

    def read_slices(
        self,
        index: int,
        columns: Sequence[str] | None = None,
        keep: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """:meth:`read`'s rows as frames of at most :data:`PIECE_ROWS` rows: the row group
        is read once, then each slice is filtered before pandas sees it, so a large row group
        costs its Arrow size and one slice, not a whole frame and its copies."""
        try:
            table = pq.ParquetFile(self.source).read_row_group(
                index, columns=list(columns) if columns is not None else None
            )
        except (pa.ArrowException, OSError) as error:
            raise DataError(
                f"cannot read row group {index} of {self.path}: {_reason(error)}"
            ) from error
        names = [str(name) for name in table.column_names]
        start = self.starts[index]
        for offset in range(0, max(table.num_rows, 1), PIECE_ROWS):
            part = table.slice(offset, PIECE_ROWS)
            rows = np.arange(start + offset, start + offset + part.num_rows)
            if keep is not None:
                mask = np.asarray(keep(rows), dtype=bool)
                part, rows = part.filter(pa.array(mask)), rows[mask]
            frame = part.to_pandas()
            yield frame.set_axis(pd.Index(rows)).set_axis(names, axis=1)

    def pieces(self, columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
        """Every row, in order, as frames of at most :data:`PIECE_ROWS` rows."""
        for index in range(len(self.piece_rows)):
            yield from self.read_slices(index, columns)


def slices(
    path: Path,
    column_types: dict[str, pa.DataType] | None = None,
    *,
    encoding: str | None = None,
) -> Iterator[pd.DataFrame]:
    """The rows of a Parquet or CSV file in order, :data:`PIECE_ROWS` or so at a time, each
    frame indexed by its rows' numbers. A CSV's ``column_types`` fix the named columns' types
    (a type guessed from one block could fail on the next); ``encoding`` is its text's, as
    :func:`~deepfit.data.io.read_table` takes it."""
    start = 0
    for batch in _batches(path, column_types or {}, encoding):
        yield _frame(batch, start)
        start += batch.num_rows


def _frame(batch: pa.RecordBatch, start: int) -> pd.DataFrame:
    frame = batch.to_pandas()
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    return frame.set_axis(pd.RangeIndex(start, start + len(frame)))


def _batches(
    path: Path, column_types: dict[str, pa.DataType], encoding: str | None = None
) -> Iterator[pa.RecordBatch]:
    if is_parquet(path):
        # By row group, then sliced: pyarrow's iter_batches over a whole file held on to
        # memory as it went (1.6 GB after 10M rows here, against 0.6 GB this way).
        try:
            parquet = pq.ParquetFile(path)
            for group in range(parquet.metadata.num_row_groups):
                table = parquet.read_row_group(group)
                for offset in range(0, table.num_rows, PIECE_ROWS):
                    yield from table.slice(offset, PIECE_ROWS).to_batches()
                del table
        except (pa.ArrowException, OSError) as error:
            raise DataError(
                f"cannot read {path}: {_reason(error)}; is it a valid Parquet file?"
            ) from error
        return
    if path.suffix.lower() == ".zip":
        raise DataError(f"{path} is a zip archive, which cannot be streamed; unzip it first")
    given = given_encoding(encoding)
    reader = _csv_reader(path, column_types, given)
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
            raise _csv_error(path, error, list(column_types), given) from error
        yield batch


def _csv_reader(
    path: Path, column_types: dict[str, pa.DataType], encoding: str | None = None
) -> pa_csv.CSVStreamingReader:
    text = encoding_of(path, encoding)
    try:
        return pa_csv.open_csv(
            str(path),
            read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, encoding=text),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter(path, text)),
            convert_options=pa_csv.ConvertOptions(
                column_types=column_types, strings_can_be_null=True
            ),
        )
    except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
        raise _csv_error(path, error, list(column_types), encoding) from error


def _csv_error(
    path: Path, error: BaseException, columns: list[str], encoding: str | None = None
) -> DataError:
    """A CSV read's error in one line; a value that is not a number names its column; text
    not in its encoding says how to name the encoding."""
    if isinstance(error, UnicodeDecodeError):
        return encoding_error(path, error, encoding)
    reason = _reason(error)
    if "invalid UTF8" in reason:
        fix = (
            "name its encoding, e.g. --encoding latin-1 (encoding='latin-1' in Python)"
            if encoding is None
            else f"it is not {encoding} text; name the encoding it was saved in with --encoding"
        )
        return DataError(f"cannot read {path}: it is not UTF-8 text; {fix}")
    found = re.search(r"column #(\d+): CSV conversion error to \w+: invalid value '(.*)'", reason)
    if found is None:
        return DataError(f"cannot read {path}: {reason}; is it a valid CSV file?")
    index, value = int(found.group(1)), found.group(2)
    name = columns[index] if index < len(columns) else f"#{index + 1}"
    return DataError(
        f"column '{name}' of {path} holds numbers in its first {HEAD_ROWS:,} rows but "
        f"{value!r} further on; fix those values, or name the column with --categorical"
    )


def csv_types(sample: pd.DataFrame, text: Sequence[str] = ()) -> dict[str, pa.DataType]:
    """Types that read a CSV's pieces as pandas read its first rows: numbers as float64,
    everything else (and the columns ``text`` names) as text."""
    return {
        name: pa.float64()
        if pd.api.types.is_numeric_dtype(sample[name])
        and not pd.api.types.is_bool_dtype(sample[name])
        and name not in text
        else pa.string()
        for name in sample.columns
    }


def parquet_copy(
    path: Path,
    folder: Path,
    column_types: dict[str, pa.DataType],
    on_slice: Callable[[pd.DataFrame], None],
    *,
    encoding: str | None = None,
) -> TableFile:
    """Copy the CSV ``path`` into ``folder`` as Parquet with row groups of :data:`PIECE_ROWS`
    rows, handing each slice to ``on_slice`` on the way (one pass for both)."""
    target = folder / f"{path.stem}.parquet"
    writer: pq.ParquetWriter | None = None
    start = 0
    try:
        for batch in _batches(path, column_types, encoding):
            on_slice(_frame(batch, start))
            start += batch.num_rows
            if writer is None:
                writer = pq.ParquetWriter(target, batch.schema)
            writer.write_batch(batch, row_group_size=PIECE_ROWS)
    finally:
        if writer is not None:
            writer.close()
    if writer is None or start == 0:
        raise DataError(f"{path} has a header but no data rows; add data rows below the header")
    return TableFile(path, target)
