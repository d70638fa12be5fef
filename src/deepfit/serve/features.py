"""What a prediction request may hold, derived from the model's own feature schema.

The same description does three jobs, so they cannot drift apart: it is the OpenAPI schema
clients see, the validator of request bodies (pydantic-core parses and checks the JSON in one
pass), and the encoder that turns validated values into the network's inputs. The encoder is
a fast path for small batches: plain Python and numpy, no DataFrame per request. A test holds
it to :meth:`TabularPreprocessor.transform`'s output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from types import GenericAlias
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

from deepfit.data.preprocess import PreparedFeatures, TabularPreprocessor, category_text
from deepfit.errors import DataError

Number = Annotated[float | None, Field(strict=True)]
Flag = Annotated[bool | None, Field(strict=True)]
Category = str | int | float | None
Stamp = datetime | None
STRICT_JSON = ConfigDict(allow_inf_nan=False)


@dataclass(frozen=True)
class Feature:
    """One input column as the API presents it."""

    name: str
    role: str  # numeric, boolean, categorical or datetime
    categories: tuple[str, ...] = ()

    @property
    def value_type(self) -> Any:
        return {"numeric": Number, "boolean": Flag, "datetime": Stamp}.get(self.role, Category)

    @property
    def json_type(self) -> str:
        return {"numeric": "number", "boolean": "boolean", "datetime": "date-time"}.get(
            self.role, "string"
        )

    def describe(self) -> dict[str, Any]:
        """The feature for ``GET /metadata``."""
        entry: dict[str, Any] = {"name": self.name, "role": self.role, "type": self.json_type}
        if self.role == "categorical":
            entry["categories"] = list(self.categories)
        entry["nullable"] = True
        return entry


@dataclass
class EncodedBatch:
    """A request's rows as network inputs, and what was noticed on the way."""

    features: PreparedFeatures
    missing_values: int


class FeatureSchema:
    """The request format of one model: records or columns, one field per feature.

    Example:
        >>> from deepfit.data.schema import infer_schema
        >>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
        >>> prep = TabularPreprocessor(infer_schema(frame), min_category_count=1).fit(frame)
        >>> schema = FeatureSchema(prep)
        >>> schema.parse(b'[{"x": 2.5, "c": "b"}]')["x"]
        [2.5]
    """

    def __init__(self, preprocessor: TabularPreprocessor) -> None:
        self.preprocessor = preprocessor
        self.features = [
            Feature(
                column.name,
                column.role,
                tuple(preprocessor.vocabularies.get(column.name, [])),
            )
            for column in preprocessor.schema.columns
            if column.role != "drop"
        ]
        positions = _numeric_positions(preprocessor)
        self._plain_names = [f.name for f in self.features if f.role in ("numeric", "boolean")]
        plain = [positions[name] for name in self._plain_names]
        # a slice when the columns are contiguous (no dates between them): a cheaper copy
        self._plain_positions: slice | list[int] = (
            (
                slice(plain[0], plain[-1] + 1)
                if plain == list(range(plain[0], plain[-1] + 1))
                else plain
            )
            if plain
            else []
        )
        self._date_positions = {
            f.name: positions[f.name] for f in self.features if f.role == "datetime"
        }
        self._n_numeric = len(preprocessor.numeric_names)
        self._codes = {  # in the order of the network's categorical inputs
            name: {text: code + 1 for code, text in enumerate(preprocessor.vocabularies[name])}
            for name in preprocessor.categorical_names
        }
        record_fields = {f.name: f.value_type for f in self.features}
        column_fields = {name: GenericAlias(list, (kind,)) for name, kind in record_fields.items()}
        record = TypedDict("Record", record_fields, total=True)  # type: ignore[misc]
        columns = TypedDict("Columns", column_fields, total=True)  # type: ignore[misc]
        record.__pydantic_config__ = STRICT_JSON  # type: ignore[attr-defined]
        columns.__pydantic_config__ = STRICT_JSON  # type: ignore[attr-defined]
        self.records_adapter: TypeAdapter[Any] = TypeAdapter(list[record])
        self.columns_adapter: TypeAdapter[Any] = TypeAdapter(columns)
        self.body_adapter: TypeAdapter[Any] = TypeAdapter(list[record] | columns)

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def parse(self, body: bytes) -> dict[str, Sequence[Any]]:
        """Validate a JSON body (records or columns) into one sequence of values per feature.

        Raises pydantic's ``ValidationError`` naming the row and field at fault.
        """
        names = self.names
        if body.lstrip()[:1] == b"[":
            records = self.records_adapter.validate_json(body)
            if not records:
                return {name: () for name in names}
            rows = (
                map(itemgetter(*names), records)
                if len(names) > 1
                else ((record[names[0]],) for record in records)
            )
            return dict(zip(names, zip(*rows, strict=True), strict=True))
        columns = self.columns_adapter.validate_json(body)
        lengths = {name: len(columns[name]) for name in names}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"'{name}' {n}" for name, n in lengths.items())
            raise DataError(f"the columns must have one length, however they have: {shown}")
        return {name: columns[name] for name in names}

    def encode(self, columns: dict[str, Sequence[Any]]) -> EncodedBatch:
        """Network inputs for validated columns, equal to the preprocessor's on the same rows."""
        prep = self.preprocessor
        n_rows = len(next(iter(columns.values()), ()))
        numeric = np.empty((n_rows, self._n_numeric), dtype=np.float32)
        missing = 0
        if self._plain_names:
            block = np.array([columns[name] for name in self._plain_names], dtype=np.float64)
            missing += int(np.count_nonzero(np.isnan(block)))
            with np.errstate(over="ignore"):
                numeric[:, self._plain_positions] = block.reshape(len(self._plain_names), n_rows).T
            if np.isinf(numeric).any():  # a float64 beyond float32's range
                raise DataError(
                    "a numeric value is too large for the model (beyond "
                    f"{np.finfo(np.float32).max:.3g}); send a smaller number or null"
                )
        for name, position in self._date_positions.items():
            values = columns[name]
            missing += values.count(None)
            parts = _date_parts(values, prep.date_parts.get(name, []), name)
            numeric[:, position : position + parts.shape[1]] = parts
        codes = np.zeros((n_rows, len(self._codes)), dtype=np.int64)
        unseen = 0
        for j, (name, mapping) in enumerate(self._codes.items()):
            get = mapping.get
            values = columns[name]
            missing += values.count(None)
            column = [
                get(value, 0) if value.__class__ is str else get(category_text(value), 0)
                for value in values
            ]
            codes[:, j] = column
            unseen += column.count(0)
        return EncodedBatch(
            PreparedFeatures(numeric=numeric, categorical=codes, unseen_categories=unseen),
            missing_values=missing,
        )


def _numeric_positions(preprocessor: TabularPreprocessor) -> dict[str, int]:
    """Where each numeric, boolean or date column starts in the numeric matrix."""
    positions: dict[str, int] = {}
    position = 0
    for column in preprocessor.schema.columns:
        if column.role in ("numeric", "boolean"):
            positions[column.name] = position
            position += 1
        elif column.role == "datetime":
            positions[column.name] = position
            position += len(preprocessor.date_parts.get(column.name, []))
    return positions


def _date_parts(values: Sequence[datetime | None], parts: list[str], name: str) -> np.ndarray:
    """The date parts the preprocessor derives, through the very same pandas code: aware
    times in UTC, counted in :data:`~deepfit.data.preprocess.DATE_UNIT` (years 1 to 9999)."""
    from deepfit.data.preprocess import DATE_UNIT, _date_part

    utc = [
        None if v is None else (v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v)
        for v in values
    ]
    try:
        stamps = pd.Series(pd.to_datetime(pd.Series(utc, dtype=object)), dtype=DATE_UNIT)
    except (OverflowError, pd.errors.OutOfBoundsDatetime) as error:
        raise DataError(
            f"feature '{name}' holds a date the model cannot count ({error}); send a date "
            "between the years 1 and 9999"
        ) from error
    if not parts:
        return np.empty((len(values), 0), dtype=np.float32)
    return np.column_stack([_date_part(stamps, part).to_numpy() for part in parts])
