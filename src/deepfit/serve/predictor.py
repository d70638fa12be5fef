"""The work behind ``POST /predict``: a JSON body in, a status and a JSON answer out.

There is no web framework in it, so the ASGI fast path (:mod:`deepfit.serve.gateway`) and
tests can call it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import numpy as np
import orjson
from pydantic import ValidationError

from deepfit.errors import ConfigError, DataError
from deepfit.evaluation.intervals import check_level
from deepfit.serve.batching import MicroBatcher
from deepfit.serve.features import FeatureSchema
from deepfit.serve.metrics import ServerMetrics

if TYPE_CHECKING:
    from deepfit.estimator.base import Estimator

MAX_ERRORS_SHOWN = 20


class TooLargeError(Exception):
    """The request is bigger than the server accepts."""


@dataclass
class Predictor:
    """Validates, encodes and predicts one request body; counts what it saw."""

    schema: FeatureSchema
    batcher: MicroBatcher
    metrics: ServerMetrics
    target: str
    version: str
    max_rows: int
    model: Estimator  # answers its task's fields: values and bounds, or labels and sets

    async def answer(self, body: bytes, query: bytes = b"") -> tuple[int, bytes]:
        """The HTTP status and JSON body answering a ``POST /predict?query`` with ``body``.

        The query string may hold ``interval=0.9``: then the answer has ``interval`` and the
        task's conformal answer at that level (``lower`` and ``upper`` bounds, or ``sets``).
        """
        try:
            level = self._interval(query)
        except ConfigError as error:
            return problem(422, str(error), [{"loc": ["query", "interval"], "msg": str(error)}])
        try:
            columns = self.schema.parse(body)
            n_rows = len(next(iter(columns.values()), ()))
            if n_rows > self.max_rows:
                raise TooLargeError(
                    f"the request has {n_rows} rows; send at most {self.max_rows} per request"
                )
            batch = self.schema.encode(columns)
        except TooLargeError as error:
            return problem(413, str(error))
        except ValidationError as error:
            return _invalid(error, self.schema.names)
        except DataError as error:
            return problem(422, str(error))
        features = batch.features
        answers = await self.batcher.predict(features.numeric, features.categorical)
        self.metrics.rows.inc(n_rows)
        if features.unseen_categories:
            self.metrics.unseen.inc(features.unseen_categories)
        if batch.missing_values:
            self.metrics.missing.inc(batch.missing_values)
        answer: dict[str, Any] = {
            **self.model.answer_fields(features, np.asarray(answers), level),
            "target": self.target,
            "model_version": self.version,
            "unseen_categories": features.unseen_categories,
            "missing_values": batch.missing_values,
        }
        return 200, orjson.dumps(answer)

    def _interval(self, query: bytes) -> float | None:
        """The level asked for in the query string (the last ``interval=``), checked."""
        try:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        except ValueError:
            pairs = []
        texts = [value for name, value in pairs if name == "interval"]
        if not texts:
            return None
        try:
            level = check_level(float(texts[-1]))
        except ValueError:  # not a number, or ConfigError: outside (0, 1)
            raise ConfigError(
                "the query parameter interval must be a coverage level strictly between 0 "
                f"and 1, e.g. interval=0.9; got {texts[-1][:40]!r}"
            ) from None
        self.model.check_interval(level)  # none calibrated, or too high a level: ConfigError
        return level


def problem(
    status: int, message: str, detail: list[dict[str, Any]] | None = None
) -> tuple[int, bytes]:
    """An error answer: one line saying what is wrong, and the details."""
    return status, orjson.dumps({"error": message, "detail": detail or []})


def _invalid(error: ValidationError, names: list[str]) -> tuple[int, bytes]:
    details: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for item in error.errors(include_url=False, include_context=False):
        where = _place(item["loc"], names)
        if where in seen:  # a union reports one error per member type: keep the first
            continue
        seen.add(where)
        details.append(
            {
                "loc": list(where),
                "msg": _message(item, where),
                "type": item["type"],
            }
        )
        if len(details) >= MAX_ERRORS_SHOWN:
            break
    first = details[0]["msg"] if details else "the body is not a valid prediction request"
    more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
    return problem(422, first + more, details)


def _place(loc: tuple[int | str, ...], names: list[str]) -> tuple[int | str, ...]:
    """The row number and feature name of an error's location, without union member tags."""
    row = next((part for part in loc if isinstance(part, int)), None)
    feature = next((part for part in loc if isinstance(part, str) and part in names), None)
    return tuple(part for part in (feature, row) if part is not None)


def _message(item: Any, where: tuple[int | str, ...]) -> str:
    feature = next((part for part in where if isinstance(part, str)), None)
    row = next((part for part in where if isinstance(part, int)), None)
    place = f"feature '{feature}'" if feature is not None else "the body"
    if row is not None:
        place += f" in row {row}"
    kind = item["type"]
    if kind == "json_invalid":
        return "the body is not valid JSON; send a list of records or an object of columns"
    if kind == "missing":
        return f"{place} is missing; send every feature (null for a missing value)"
    if kind in ("finite_number",):
        return f"{place} is not a finite number; NaN and infinity are not allowed, send null"
    if feature is None:
        return (
            "the body must be a JSON list of records (one object per row) or an object of "
            f"columns (one list per feature); {item['msg'].lower()}"
        )
    shown = repr(item.get("input"))[:60]
    return f"{place}: {item['msg'].lower()}, got {shown}"
