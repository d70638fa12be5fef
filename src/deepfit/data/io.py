"""Read any supported source into one pandas DataFrame.

Sources: a path to a CSV or Parquet file, a pandas or polars DataFrame, a numpy array or
anything array-like. Errors name the file and say how to fix it.
"""

from __future__ import annotations

import codecs
import csv
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from deepfit.errors import ConfigError, DataError, DataFileNotFoundError, OutputError
from deepfit.files import atomic_writer

CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".gz", ".bz2", ".zip", ".xz"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
TEXT_OUTPUT_SUFFIXES = {".csv", ".txt", ".tsv"}
SPREADSHEET_SUFFIXES = {".xlsx", ".xls", ".xlsm", ".ods", ".numbers"}
SNIFF_BYTES = 64 * 1024
# byte order marks, longest first: a UTF-16 file names its byte order in its first two bytes
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ENCODING: ContextVar[str | None] = ContextVar("deepfit_text_encoding", default=None)


def read_table(source: Any, *, encoding: str | None = None) -> pd.DataFrame:
    """Return ``source`` as a pandas DataFrame with string column names.

    A text table is read in ``encoding`` when given (or :func:`text_encoding`'s), else in the
    encoding its byte order mark names (UTF-8 or UTF-16), else as UTF-8.

    Example:
        >>> read_table({"a": [1, 2]}).shape
        (2, 1)
    """
    if isinstance(source, str | os.PathLike):
        return _read_file(Path(source), encoding)
    if isinstance(source, pd.DataFrame):
        frame = source
    elif _is_polars(source):
        frame = source.to_pandas()
    elif isinstance(source, pd.Series):
        frame = source.to_frame()
    elif isinstance(source, dict):
        frame = pd.DataFrame(source)
    else:
        array = np.asarray(source)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2:
            raise DataError(
                f"expected a 2-D table of features, got an array with {array.ndim} dimensions; "
                "reshape it to (rows, columns)"
            )
        frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
    names = [str(column) for column in frame.columns]
    check_unique_columns(names, "the data")
    return frame.set_axis(names, axis=1)


def check_unique_columns(names: Iterable[Any], where: str) -> None:
    """Refuse a column name that appears more than once (as text) in ``names``.

    Example:
        >>> try:
        ...     check_unique_columns(["a", "b", "a"], "t.csv")
        ... except DataError as error:
        ...     print(str(error).split(";")[0])
        column 'a' appears 2 times in t.csv
    """
    counts = Counter(str(name) for name in names if not _is_blank(name))
    repeated = [(name, count) for name, count in counts.items() if count > 1]
    if repeated:
        name, count = repeated[0]
        more = f" (and {len(repeated) - 1} more column name(s))" if len(repeated) > 1 else ""
        raise DataError(
            f"column '{name}' appears {count} times in {where}{more}; give every column its "
            "own name (rename or drop the copies)"
        )


def _is_blank(name: Any) -> bool:
    return name is None or (isinstance(name, float) and np.isnan(name))


def check_encoding(encoding: str | None) -> str | None:
    """``encoding`` if Python knows it (or None), else a ConfigError."""
    if encoding is None:
        return None
    try:
        codecs.lookup(encoding)
    except LookupError as error:
        raise ConfigError(
            f"unknown text encoding {encoding!r}; use a name such as utf-8, latin-1, cp1252 "
            "or utf-16"
        ) from error
    return encoding


@contextmanager
def text_encoding(encoding: str | None) -> Iterator[None]:
    """Read text tables in ``encoding`` inside the block (None: from the byte order mark,
    else UTF-8), wherever they are read: the command line's ``--encoding``.

    Example:
        >>> with text_encoding("latin-1"):  # doctest: +SKIP
        ...     frame = read_table("prices.csv")
    """
    token = _ENCODING.set(check_encoding(encoding))
    try:
        yield
    finally:
        _ENCODING.reset(token)


def encoding_of(path: Path, encoding: str | None = None) -> str:
    """The encoding to read the text table ``path`` in: ``encoding``, else
    :func:`text_encoding`'s, else its byte order mark's, else UTF-8."""
    given = check_encoding(encoding) or _ENCODING.get()
    if given is not None:
        return given
    try:
        with pa.input_stream(str(path), compression="detect") as handle:
            start = bytes(handle.read(4))
    except (pa.ArrowException, OSError, ValueError):
        return "utf-8"
    for mark, name in BOMS:
        if start.startswith(mark):
            return name
    return "utf-8"


def given_encoding(encoding: str | None = None) -> str | None:
    """The encoding the user named (here or through :func:`text_encoding`), if any."""
    return check_encoding(encoding) or _ENCODING.get()


def encoding_error(path: Path, error: UnicodeDecodeError, encoding: str | None) -> DataError:
    """A text table that is not in the encoding it was read in, in one line with the fix."""
    where = f"byte 0x{error.object[error.start]:02x} at position {error.start}"
    if encoding is None:
        return DataError(
            f"cannot read {path}: it is not UTF-8 text ({where}); name its encoding, "
            "e.g. --encoding latin-1 (encoding='latin-1' in Python) or --encoding cp1252"
        )
    return DataError(
        f"cannot read {path}: it is not {encoding} text ({where}); name the encoding it was "
        "saved in with --encoding (encoding= in Python)"
    )


def _is_polars(source: Any) -> bool:
    return type(source).__module__.startswith("polars") and hasattr(source, "to_pandas")


def delimiter(path: Path, encoding: str = "utf-8") -> str:
    """The field separator of a text table: a tab for .tsv, else sniffed from its start."""
    if path.name.lower().endswith((".tsv", ".tsv.gz")):
        return "\t"
    if path.suffix.lower() in {".gz", ".bz2", ".zip", ".xz"}:
        return ","
    with path.open("r", encoding=encoding, errors="replace", newline="") as handle:
        sample = handle.read(SNIFF_BYTES)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def check_file(path: Path) -> None:
    """Refuse a path that is missing, a folder, empty or of a kind deepfit does not read, in
    one line each."""
    if not path.exists():
        raise DataFileNotFoundError(f"file not found: {path}; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file; name a CSV or Parquet file")
    suffix = path.suffix.lower()
    if suffix and suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        sheet = "; save the sheet as CSV" if suffix in SPREADSHEET_SUFFIXES else ""
        raise DataError(
            f"{path} has suffix '{suffix}', which deepfit cannot read; "
            f"use .csv, .tsv or .parquet{sheet}"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; it needs a header row and at least one data row")


def csv_header(path: Path, separator: str, encoding: str) -> list[str]:
    """The names in the header row of a text table, as written (pandas would rename a
    repeated name ``a`` to ``a.1``)."""
    first = pd.read_csv(path, sep=separator, header=None, nrows=1, dtype=str, encoding=encoding)
    return [name for name in first.iloc[0].tolist() if isinstance(name, str)] if len(first) else []


def _read_file(path: Path, encoding: str | None = None) -> pd.DataFrame:
    check_file(path)
    suffix = path.suffix.lower()
    given = given_encoding(encoding)
    try:
        if suffix in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        else:  # check_file refused every other suffix
            text = encoding_of(path, given)
            separator = delimiter(path, text)
            check_unique_columns(csv_header(path, separator, text), f"the header of {path}")
            frame = pd.read_csv(path, sep=separator, low_memory=False, encoding=text)
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{path} holds no data; it needs a header row and data rows") from error
    except UnicodeDecodeError as error:
        raise encoding_error(path, error, given) from error
    except (pd.errors.ParserError, OSError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"cannot read {path}: {reason}; is it a valid {suffix or 'CSV'} file?"
        ) from error
    if frame.shape[0] == 0:
        raise DataError(f"{path} has a header but no data rows; add data rows below the header")
    names = [str(column) for column in frame.columns]
    check_unique_columns(names, str(path))
    frame.columns = names
    _refuse_repeated_header(frame, path)
    return frame


def _refuse_repeated_header(frame: pd.DataFrame, path: Path) -> None:
    """Refuse a row that repeats the header, as two CSV files joined end to end leave: it
    would turn every numeric column into text."""
    first = frame.iloc[:, 0]
    if not (pd.api.types.is_object_dtype(first) or pd.api.types.is_string_dtype(first)):
        return
    candidates = np.flatnonzero((first.astype(str) == frame.columns[0]).to_numpy())
    for row in candidates[:100]:
        if [str(value) for value in frame.iloc[row]] == list(frame.columns):
            raise DataError(
                f"row {row + 1} of {path} repeats the header (were two files joined?); "
                "remove that line"
            )


def check_output_suffix(path: Path) -> None:
    """Refuse a table output named as a kind deepfit does not write (``.xlsx``; ``.gz``, which
    would hold plain text): CSV for ``.csv``, ``.txt`` or no suffix, TSV, or Parquet."""
    suffix = path.suffix.lower()
    if suffix and suffix not in TEXT_OUTPUT_SUFFIXES | PARQUET_SUFFIXES:
        raise OutputError(
            f"{path} has suffix '{suffix}', which deepfit does not write; name a .csv, .tsv "
            "or .parquet file"
        )


def write_table(frame: pd.DataFrame, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``frame`` atomically: Parquet for ``.parquet``/``.pq``, tab-separated for ``.tsv``,
    CSV otherwise; an existing file is replaced only with ``overwrite``.

    Example:
        >>> write_table(predictions, Path("p.parquet"))  # doctest: +SKIP
    """
    check_output_suffix(path)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        with atomic_writer(path, overwrite=overwrite) as handle:
            frame.to_parquet(handle, index=False)
    else:
        separator = "\t" if suffix == ".tsv" else ","
        with atomic_writer(path, overwrite=overwrite, mode="w") as handle:
            frame.to_csv(handle, index=False, sep=separator)
    return path
