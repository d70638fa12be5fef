"""Column roles: which columns are numeric, categorical, boolean or dates, and which to drop.

Roles are inferred from the training data and can be overridden per column. The schema is
plain data and round-trips through JSON inside the model file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from deepfit.data.date_text import find_date_format
from deepfit.data.numeric_text import (
    DECIMAL_COMMA_FIX,
    decimal_comma,
    missing_markers,
    parse_numbers,
)
from deepfit.errors import ConfigError, DataError

Role = Literal["numeric", "categorical", "boolean", "datetime", "drop"]
ROLES: tuple[Role, ...] = ("numeric", "categorical", "boolean", "datetime", "drop")

TRUE_WORDS = frozenset({"true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "f"})
MIN_ROWS_FOR_ID_CHECK = 20
NUMERIC_TEXT_SHARE = 0.9


@dataclass(frozen=True)
class ColumnSchema:
    """One input column: its name, role and, for dropped columns, why."""

    name: str
    role: Role
    reason: str = ""


@dataclass
class Schema:
    """The roles of every input column, and the target's name.

    Example:
        >>> frame = pd.DataFrame({"size": [1.0, 2.0], "colour": ["red", "blue"]})
        >>> [c.role for c in infer_schema(frame).columns]
        ['numeric', 'categorical']
    """

    columns: list[ColumnSchema]
    target: str | None = None
    notes: list[str] = field(default_factory=list)

    def names(self, role: Role) -> list[str]:
        return [column.name for column in self.columns if column.role == role]

    @property
    def feature_names(self) -> list[str]:
        return [column.name for column in self.columns if column.role != "drop"]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [asdict(c) for c in self.columns], "target": self.target}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        columns = [
            ColumnSchema(str(c["name"]), _role(c["role"]), str(c.get("reason", "")))
            for c in data["columns"]
        ]
        return cls(columns=columns, target=data.get("target"))


def _role(value: Any) -> Role:
    if value not in ROLES:
        raise ConfigError(f"unknown column role {value!r}; use one of {', '.join(ROLES)}")
    return cast(Role, value)


def infer_schema(
    frame: pd.DataFrame,
    *,
    roles: dict[str, str] | None = None,
    target: str | None = None,
) -> Schema:
    """Infer a role for every column of ``frame`` except ``target``.

    ``roles`` overrides the inference for the columns it names (role ``"drop"`` removes one).
    Constant, empty and id-like columns are dropped; ``Schema.notes`` says which and why.
    """
    roles = dict(roles or {})
    unknown = sorted(set(roles) - set(frame.columns))
    if unknown:
        raise ConfigError(
            f"column roles name {', '.join(map(repr, unknown))}, which the data does not have; "
            f"the columns are: {', '.join(map(str, frame.columns))}"
        )
    columns: list[ColumnSchema] = []
    notes: list[str] = []
    for name in frame.columns:
        if name == target:
            continue
        if name in roles:
            role = _role(roles[name])
            if role != "drop" and holds_nested(frame[name].dropna()):
                raise DataError(
                    f"column '{name}' holds lists or records, not values, so it cannot be "
                    f"{role}; flatten them into columns, or drop the column"
                )
            columns.append(ColumnSchema(name, role, "chosen by the user"))
            continue
        column = _infer_column(name, frame[name])
        if column.role == "drop":
            notes.append(f"dropped column '{name}': {column.reason}")
        elif column.reason:
            notes.append(f"numeric column '{name}': {column.reason}")
        columns.append(column)
    if not any(column.role != "drop" for column in columns):
        raise DataError(
            "no usable feature columns remain (all are constant, empty or id-like); "
            "add informative columns or set column roles explicitly"
        )
    return Schema(columns=columns, target=target, notes=notes)


def _infer_column(name: str, series: pd.Series) -> ColumnSchema:
    values = series.dropna()
    if values.empty:
        return ColumnSchema(name, "drop", "every value is missing")
    if holds_nested(values):
        return ColumnSchema(
            name, "drop", "it holds lists or records, not values (flatten them into columns)"
        )
    if values.nunique() <= 1:
        value = values.iloc[0]
        value = value.item() if isinstance(value, np.generic) else value
        return ColumnSchema(name, "drop", f"constant (every value is {value!r})")
    if pd.api.types.is_bool_dtype(series):
        return ColumnSchema(name, "boolean")
    if pd.api.types.is_datetime64_any_dtype(series):
        return ColumnSchema(name, "datetime")
    if pd.api.types.is_timedelta64_dtype(series):
        return ColumnSchema(name, "numeric")  # a duration, in seconds
    if pd.api.types.is_numeric_dtype(series):
        if is_row_counter(name, values):
            return ColumnSchema(name, "drop", "id-like (a distinct integer on every row)")
        return ColumnSchema(name, "numeric")
    if isinstance(series.dtype, pd.CategoricalDtype):
        return ColumnSchema(name, "categorical")
    return _infer_text_column(name, values, len(series))


def holds_nested(values: pd.Series) -> bool:
    """Whether a column (missing values left out) holds lists, arrays or records, as a
    Parquet list or struct column does: none of them is one value to learn from."""
    if values.dtype != object:
        return False
    return any(isinstance(value, list | tuple | dict | set | np.ndarray) for value in values[:100])


def is_row_counter(name: str, values: pd.Series) -> bool:
    """Whether integer ``values`` (no missing ones) number the rows: distinct, named like an
    id, or counting from about 0 or 1 with few gaps."""
    if len(values) < MIN_ROWS_FOR_ID_CHECK or not pd.api.types.is_integer_dtype(values):
        return False
    if values.nunique() != len(values) or values.min() < 0:  # ids are non-negative counters
        return False
    lowered = name.lower()
    named_like_id = lowered in {"id", "index", "unnamed: 0"} or lowered.endswith(("_id", " id"))
    # A row counter, possibly on a random subset of rows: distinct integers that start near
    # 0 or 1 and fill most of their range. A year column (1990, 1991, ...) does not start there.
    array = np.sort(values.to_numpy())
    starts_near_zero = array[0] <= 1 + 0.01 * len(array)
    dense = array[-1] - array[0] + 1 <= 2 * len(array)
    return named_like_id or bool(starts_near_zero and dense)


def _infer_text_column(name: str, values: pd.Series, n_rows: int) -> ColumnSchema:
    text = values.astype(str).str.strip()
    lowered = set(text.str.lower().unique())
    if lowered <= TRUE_WORDS | FALSE_WORDS and lowered & TRUE_WORDS and lowered & FALSE_WORDS:
        return ColumnSchema(name, "boolean")
    as_numbers = parse_numbers(text)
    numeric_share = float(as_numbers.notna().mean())
    if numeric_share == 1.0:
        return ColumnSchema(name, "numeric")
    markers = missing_markers(text)
    if numeric_share > 0 and bool((as_numbers.notna() | markers).all()):
        shown = ", ".join(repr(marker) for marker in sorted(set(text[markers])))
        return ColumnSchema(name, "numeric", f"{shown} ({int(markers.sum())} rows) read as missing")
    example = decimal_comma(text, NUMERIC_TEXT_SHARE)
    if example is not None:
        raise DataError(
            f"column '{name}' holds numbers written with a decimal comma, such as {example!r}; "
            f"{DECIMAL_COMMA_FIX}, or declare the column categorical"
        )
    if numeric_share >= NUMERIC_TEXT_SHARE:
        row = int(np.argmax(as_numbers.isna().to_numpy()))
        words = int(as_numbers.isna().sum())
        raise DataError(
            f"column '{name}' looks numeric ({numeric_share:.0%} of its values are numbers) but "
            f"{words:,} row{'s' if words > 1 else ''} hold{'' if words > 1 else 's'} text such "
            f"as {text.iloc[row]!r}; fix or blank those values, or declare the column "
            f"categorical (--categorical '{name}', or column_roles={{'{name}': 'categorical'}})"
        )
    if find_date_format(text.iloc[:200]) is not None:
        return ColumnSchema(name, "datetime")
    if n_rows >= MIN_ROWS_FOR_ID_CHECK and values.nunique() == n_rows:
        return ColumnSchema(name, "drop", "id-like (a distinct text value on every row)")
    return ColumnSchema(name, "categorical")
