"""Turn a table into model inputs, with statistics learned from the training split only.

The preprocessor does what a tensor graph cannot: it parses dates into numeric parts, turns
booleans into 0/1 and maps category strings to integer codes (0 is the "unknown" slot). The
numeric statistics it learns (median, robust scale, which columns had missing values) are
applied inside the network itself (:class:`deepfit.models.inputs.NumericInput`), so an
exported graph or a server applies exactly what training did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from deepfit.data.date_text import (
    ISO,
    check_date_format,
    example_date,
    find_date_format,
    parse_dates,
)
from deepfit.data.numeric_text import missing_markers, parse_numbers
from deepfit.data.schema import FALSE_WORDS, TRUE_WORDS, Schema
from deepfit.errors import DataError

UNKNOWN = 0
MISSING_CATEGORY = "<missing>"
DATE_PARTS = ("year", "month", "day", "day_of_week", "day_of_year", "hour", "days_since_1970")
MICROSECONDS_PER_DAY = 86_400 * 10**6
# Dates are counted in microseconds, not nanoseconds: datetime64[ns] ends in 2262, and a
# "no end" date such as 9999-12-31 must train, predict and serve alike.
DATE_UNIT: Final = "datetime64[us]"
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class PreparedFeatures:
    """Model inputs for a batch of rows, and what the preparation noticed."""

    numeric: np.ndarray  # float32 (rows, numeric features), NaN where missing
    categorical: np.ndarray  # int64 (rows, categorical features), 0 = unknown
    unseen_categories: int = 0
    all_missing: list[str] = field(default_factory=list)  # feature columns with no value at all

    def __len__(self) -> int:
        return int(self.numeric.shape[0])


class TabularPreprocessor:
    """Fit on training rows, then prepare any rows with the same columns.

    Example:
        >>> from deepfit.data.schema import infer_schema
        >>> frame = pd.DataFrame({"x": [1.0, None, 3.0], "c": ["a", "b", "a"]})
        >>> prep = TabularPreprocessor(infer_schema(frame), min_category_count=1).fit(frame)
        >>> prep.transform(frame).categorical.ravel().tolist()
        [1, 2, 1]
    """

    def __init__(self, schema: Schema, *, min_category_count: int = 2) -> None:
        self.schema = schema
        self.min_category_count = min_category_count
        self.numeric_names: list[str] = []
        self.medians: list[float] = []
        self.scales: list[float] = []
        self.missing_in_training: list[bool] = []
        self.vocabularies: dict[str, list[str]] = {}
        self.date_parts: dict[str, list[str]] = {}
        self.date_formats: dict[str, str] = {}  # of date columns given as text

    @property
    def categorical_names(self) -> list[str]:
        return self.schema.names("categorical")

    @property
    def cardinalities(self) -> list[int]:
        """Embedding table sizes: each vocabulary plus the unknown slot."""
        return [len(self.vocabularies[name]) + 1 for name in self.categorical_names]

    def fit(self, frame: pd.DataFrame) -> TabularPreprocessor:
        check_columns(frame, self.schema.feature_names)
        for name in self.schema.names("datetime"):
            if not pd.api.types.is_datetime64_any_dtype(frame[name]):
                self.date_formats[name] = _date_format_of(frame[name])
            stamps = _parse_dates(frame[name], name, self.date_formats.get(name, ISO))
            has_time = bool((stamps.dropna().dt.hour != 0).any())
            self.date_parts[name] = [p for p in DATE_PARTS if p != "hour" or has_time]
        numeric = self._numeric_frame(frame)
        self.numeric_names = list(numeric.columns)
        values = numeric.to_numpy(dtype=np.float64)
        self.medians, self.scales, self.missing_in_training = [], [], []
        for j in range(values.shape[1]):
            column = values[:, j]
            present = column[~np.isnan(column)]
            self.missing_in_training.append(bool(len(present) < len(column)))
            self.medians.append(float(np.median(present)) if len(present) else 0.0)
            self.scales.append(_robust_scale(present))
        for name in self.categorical_names:
            counts = _category_text(frame[name]).value_counts()
            kept = counts[counts >= self.min_category_count]
            self.vocabularies[name] = sorted(kept.index.tolist())
        return self

    def transform(self, frame: pd.DataFrame) -> PreparedFeatures:
        check_columns(frame, self.schema.feature_names)
        numeric = self._numeric_frame(frame).to_numpy(dtype=np.float32)
        codes = np.zeros((len(frame), len(self.categorical_names)), dtype=np.int64)
        unseen = 0
        for j, name in enumerate(self.categorical_names):
            positions, texts = category_positions(frame[name])
            vocabulary = pd.Index(self.vocabularies[name])
            column_codes = (vocabulary.get_indexer(pd.Index(texts)) + 1)[positions]
            unseen += int((column_codes == UNKNOWN).sum())
            codes[:, j] = column_codes
        empty = (
            [name for name in self.schema.feature_names if frame[name].isna().all()]
            if len(frame) > 1  # one row with a missing value is not worth a note
            else []
        )
        return PreparedFeatures(
            numeric=numeric, categorical=codes, unseen_categories=unseen, all_missing=empty
        )

    def _numeric_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        parts: dict[str, pd.Series] = {}
        for column in self.schema.columns:
            name = column.name
            if column.role == "numeric":
                parts[name] = _as_numeric(frame[name], name)
            elif column.role == "boolean":
                parts[name] = _as_boolean(frame[name], name)
            elif column.role == "datetime":
                stamps = _parse_dates(frame[name], name, self.date_formats.get(name, ISO))
                for part in self.date_parts.get(name, []):
                    parts[f"{name}.{part}"] = _date_part(stamps, part)
        return pd.DataFrame(parts, index=frame.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema.to_dict(),
            "min_category_count": self.min_category_count,
            "numeric_names": self.numeric_names,
            "medians": self.medians,
            "scales": self.scales,
            "missing_in_training": self.missing_in_training,
            "vocabularies": self.vocabularies,
            "date_parts": self.date_parts,
            "date_formats": self.date_formats,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TabularPreprocessor:
        prep = cls(Schema.from_dict(data["schema"]), min_category_count=data["min_category_count"])
        prep.numeric_names = [str(n) for n in data["numeric_names"]]
        prep.medians = [float(v) for v in data["medians"]]
        prep.scales = [float(v) for v in data["scales"]]
        prep.missing_in_training = [bool(v) for v in data["missing_in_training"]]
        prep.vocabularies = {str(k): [str(v) for v in vs] for k, vs in data["vocabularies"].items()}
        prep.date_parts = {str(k): [str(v) for v in vs] for k, vs in data["date_parts"].items()}
        formats = data.get("date_formats", {})  # files saved before 2026-11-30 read ISO dates
        prep.date_formats = {str(k): check_date_format(v) for k, v in formats.items()}
        lengths = {
            len(prep.numeric_names),
            len(prep.medians),
            len(prep.scales),
            len(prep.missing_in_training),
        }
        if len(lengths) != 1 or set(prep.vocabularies) != set(prep.categorical_names):
            raise ValueError("preprocessing statistics do not match the schema")
        return prep


def check_columns(frame: pd.DataFrame, expected: list[str]) -> None:
    """Raise a DataError naming every expected column that ``frame`` lacks."""
    missing = [name for name in expected if name not in frame.columns]
    if missing:
        shown = ", ".join(f"'{name}'" for name in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise DataError(
            f"the data lacks feature column(s) {shown}{more} that the model was trained with; "
            "add them (empty values are allowed) or retrain without them"
        )


def first_row(mask: pd.Series | np.ndarray) -> int:
    """Position of the first True in ``mask``."""
    return int(np.argmax(np.asarray(mask, dtype=bool)))


def row_label(position: int) -> str:
    """How a message names a row: counted from 1, the header not counted."""
    return f"row {position + 1}"


def _robust_scale(values: np.ndarray) -> float:
    if len(values) == 0:
        return 1.0
    q25, q75 = np.quantile(values, [0.25, 0.75])
    scale = float(q75 - q25) / 1.349  # the IQR of a standard normal
    if scale <= 1e-12:
        scale = float(np.std(values))
    return scale if scale > 1e-12 else 1.0


def _as_numeric(series: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("float64")
    if pd.api.types.is_timedelta64_dtype(series):
        series = series.dt.total_seconds()
    if pd.api.types.is_complex_dtype(series):
        raise DataError(
            f"column '{name}' holds complex numbers; give their real and imaginary parts "
            "(or magnitude and angle) as two numeric columns"
        )
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype("float64")
    else:
        values = parse_numbers(series)
        bad = values.isna() & series.notna()
        if bad.any():  # blank, marked missing ("?") or text: only text is an error
            text = series[bad].astype("string").str.strip()
            bad[bad] = (text != "") & ~missing_markers(text)
        if bad.any():
            row = first_row(bad)
            raise DataError(
                f"column '{name}' is numeric but holds text, e.g. {series.iloc[row]!r} in "
                f"{row_label(row)} "
                f"({int(bad.sum())} value(s) in all); fix those values or leave them empty"
            )
        values = values.astype("float64")
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        row = first_row(infinite)
        raise DataError(
            f"column '{name}' holds infinite values ({int(infinite.sum())}, first in "
            f"{row_label(row)}); "
            "replace them with finite numbers or leave them empty for missing"
        )
    check_float32(values.to_numpy(), f"column '{name}'")
    return values


def check_float32(values: np.ndarray, what: str) -> None:
    """Refuse a finite number beyond float32's range (the network computes in float32, where
    it would be infinite); ``what`` names the column, e.g. ``column 'x'``.

    Example:
        >>> check_float32(np.array([1.0, 3e38]), "column 'x'")
    """
    with np.errstate(invalid="ignore"):
        beyond = np.abs(values) > FLOAT32_MAX
    if beyond.any():
        row = first_row(beyond)
        raise DataError(
            f"{what} holds {values[row]:.6g} in {row_label(row)}, beyond the largest number "
            f"the model computes with ({FLOAT32_MAX:.3g}; {int(beyond.sum())} value(s) in all); "
            "rescale the column (e.g. divide it by a power of ten) or leave those values empty"
        )


def _as_boolean(series: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        values = series.astype("float64")
        if not values.dropna().isin([0.0, 1.0]).all():
            raise DataError(f"column '{name}' is boolean but holds values other than 0 and 1")
        return values
    text = series.astype("string").str.strip().str.lower()
    values = pd.Series(np.nan, index=series.index, dtype="float64")
    values[text.isin(TRUE_WORDS | {"1"})] = 1.0
    values[text.isin(FALSE_WORDS | {"0"})] = 0.0
    bad = text.notna() & values.isna()
    if bad.any():
        row = first_row(bad)
        raise DataError(
            f"column '{name}' is boolean but holds {series.iloc[row]!r} in {row_label(row)}; "
            "use true/false, yes/no or 1/0"
        )
    return values


def _date_format_of(series: pd.Series) -> str:
    """The format of a text date column: the one that reads its values, else the one that
    reads its first rows (so that the value it cannot read is named), else ISO 8601."""
    present = series.dropna()
    return find_date_format(present) or find_date_format(present.iloc[:200]) or ISO


def _parse_dates(series: pd.Series, name: str, date_format: str = ISO) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series
    else:
        stamps = parse_dates(series, date_format)
        bad = series.notna() & stamps.isna()
        if bad.any():
            row = first_row(bad)
            written = "ISO dates" if date_format == ISO else "dates written as in training"
            raise DataError(
                f"column '{name}' holds dates but {series.iloc[row]!r} in {row_label(row)} is "
                f"not one; use {written}, such as {example_date(date_format)}, or leave the "
                "value empty"
            )
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps


def _date_part(stamps: pd.Series, part: str) -> pd.Series:
    if part == "days_since_1970":
        microseconds = stamps.astype(DATE_UNIT).astype("int64").astype("float64")
        return (microseconds / MICROSECONDS_PER_DAY).where(stamps.notna())
    return getattr(stamps.dt, part).astype("float64")


def category_text(value: Any) -> str:
    """How one category value is spelled: 3, 3.0 and '3' are one category; missing is its own.

    Example:
        >>> category_text(3.0), category_text(None)
        ('3', '<missing>')
    """
    if value is None:
        return MISSING_CATEGORY
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _category_text(series: pd.Series) -> pd.Series:
    """:func:`category_text` for a column; NaN and NaT count as missing too."""
    positions, texts = category_positions(series)
    return pd.Series(np.asarray(texts, dtype=object)[positions], index=series.index)


def category_positions(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each value's position in a list of the column's distinct :func:`category_text`
    spellings, and that list (missing values included): one call per distinct value, not
    per row.

    Example:
        >>> category_positions(pd.Series([3.0, None, 3.0, "a"]))
        (array([0, 2, 0, 1]), ['3', 'a', '<missing>'])
    """
    positions, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = [category_text(value) for value in uniques]
    if MISSING_CATEGORY in texts:
        missing = texts.index(MISSING_CATEGORY)
    else:
        missing = len(texts)
        texts.append(MISSING_CATEGORY)
    positions = np.where(positions < 0, missing, positions)
    return positions, texts
