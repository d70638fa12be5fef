"""Read any supported source into one pandas DataFrame.

Sources: a path to a CSV or Parquet file, a pandas or polars DataFrame, a numpy array or
anything array-like. Errors name the file and say how to fix it.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfit.errors import DataError, DataFileNotFoundError
from deepfit.files import atomic_writer

CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".gz", ".bz2", ".zip", ".xz"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
SNIFF_BYTES = 64 * 1024


def read_table(source: Any) -> pd.DataFrame:
    """Return ``source`` as a pandas DataFrame with string column names.

    Example:
        >>> read_table({"a": [1, 2]}).shape
        (2, 1)
    """
    if isinstance(source, str | os.PathLike):
        return _read_file(Path(source))
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
    return frame.set_axis([str(column) for column in frame.columns], axis=1)


def _is_polars(source: Any) -> bool:
    return type(source).__module__.startswith("polars") and hasattr(source, "to_pandas")


def delimiter(path: Path) -> str:
    """The field separator of a text table: a tab for .tsv, else sniffed from its start."""
    if path.name.lower().endswith((".tsv", ".tsv.gz")):
        return "\t"
    if path.suffix.lower() in {".gz", ".bz2", ".zip", ".xz"}:
        return ","
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        sample = handle.read(SNIFF_BYTES)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def check_file(path: Path) -> None:
    """Refuse a path that is missing, a folder or empty, in one line each."""
    if not path.exists():
        raise DataFileNotFoundError(f"file not found: {path}; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file; name a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; it needs a header row and at least one data row")


def _read_file(path: Path) -> pd.DataFrame:
    check_file(path)
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        elif suffix in CSV_SUFFIXES or suffix == "":
            frame = pd.read_csv(path, sep=delimiter(path), low_memory=False)
        else:
            raise DataError(
                f"{path} has suffix '{suffix}', which deepfit cannot read; "
                "use .csv, .tsv or .parquet"
            )
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{path} holds no data; it needs a header row and data rows") from error
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"cannot read {path}: {reason}; is it a valid {suffix or 'CSV'} file?"
        ) from error
    if frame.shape[0] == 0:
        raise DataError(f"{path} has a header but no data rows; add rows to train on")
    frame.columns = [str(column) for column in frame.columns]
    return frame


def write_table(frame: pd.DataFrame, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``frame`` atomically: Parquet for ``.parquet``/``.pq``, tab-separated for ``.tsv``,
    CSV otherwise; an existing file is replaced only with ``overwrite``.

    Example:
        >>> write_table(predictions, Path("p.parquet"))  # doctest: +SKIP
    """
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        with atomic_writer(path, overwrite=overwrite) as handle:
            frame.to_parquet(handle, index=False)
    else:
        separator = "\t" if suffix == ".tsv" else ","
        with atomic_writer(path, overwrite=overwrite, mode="w") as handle:
            frame.to_csv(handle, index=False, sep=separator)
    return path
