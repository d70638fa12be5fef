"""The work behind ``POST /predict``: a JSON body in, a status and a JSON answer out.

There is no web framework in it, so the ASGI fast path (:mod:`deepfit.serve.gateway`) and
tests can call it directly.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import numpy as np
import orjson
from pydantic import ValidationError

from deepfit.errors import ConfigError, DataError
from deepfit.evaluation.intervals import check_level
from deepfit.serve.batching import MicroBatcher
from deepfit.serve.features import EncodedBatch, FeatureSchema
from deepfit.serve.metrics import ServerMetrics

if TYPE_CHECKING:
    from deepfit.estimator.base import Estimator
    from deepfit.serve.drift import DriftTracker

MAX_ERRORS_SHOWN = 20
OFFLOAD_BYTES = 64 * 1024  # bodies this big are parsed and predicted off the event loop
OFFLOAD_THREADS = 2
SCAN_BYTES = 2**20  # count_rows reads the body a megabyte at a time
EMPTY_OR_OPENING = re.compile(rb"\s*([\[{])(\s*[\]}])?")
QUOTE, BACKSLASH, COMMA, OPEN_LIST = (ord(c) for c in '"\\,[')
NESTING = np.zeros(256, dtype=np.int64)  # +1 for [ and {, -1 for ] and }
NESTING[list(b"[{")] = 1
NESTING[list(b"]}")] = -1


class TooLargeError(Exception):
    """The request is bigger than the server accepts."""


@dataclass
class Predictor:
    """Validates, encodes and predicts one request body; counts what it saw.

    A body of :data:`OFFLOAD_BYTES` or more is parsed, encoded and predicted in a small
    thread pool, so that the event loop (health checks, small requests) keeps turning; a
    smaller one is answered on the loop, its rows joined with other requests' by the batcher.
    """

    schema: FeatureSchema
    batcher: MicroBatcher
    metrics: ServerMetrics
    target: str
    version: str
    max_rows: int
    model: Estimator  # answers its task's fields: values and bounds, or labels and sets
    offload_bytes: int = OFFLOAD_BYTES
    drift: DriftTracker | None = None  # counts the rows answered, for GET /drift
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    async def answer(self, body: bytes, query: bytes = b"") -> tuple[int, bytes]:
        """The HTTP status and JSON body answering a ``POST /predict?query`` with ``body``.

        The query string may hold ``interval=0.9``: then the answer has ``interval`` and the
        task's conformal answer at that level (``lower`` and ``upper`` bounds, or ``sets``).
        """
        try:
            level = self._interval(query)
        except ConfigError as error:
            return problem(422, str(error), [{"loc": ["query", "interval"], "msg": str(error)}])
        if len(body) >= self.offload_bytes:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(OFFLOAD_THREADS, thread_name_prefix="predict")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._answer_here, body, level)
        batch = self._prepare(body)
        if isinstance(batch, tuple):
            return batch
        features = batch.features
        answers = await self.batcher.predict(features.numeric, features.categorical)
        return self._finish(batch, np.asarray(answers), level)

    def _answer_here(self, body: bytes, level: float | None) -> tuple[int, bytes]:
        """:meth:`answer`'s work in the calling thread, without the batcher."""
        batch = self._prepare(body)
        if isinstance(batch, tuple):
            return batch
        features = batch.features
        answers = self.batcher.engine.predict(features.numeric, features.categorical)
        return self._finish(batch, answers, level)

    def _prepare(self, body: bytes) -> EncodedBatch | tuple[int, bytes]:
        """The body's rows as network inputs, or the error answer (413 or 422)."""
        try:
            if body.count(b",") >= self.max_rows:  # else there are at most max_rows rows
                _check_rows(count_rows(body), self.max_rows)
            columns = self.schema.parse(body)
            _check_rows(len(next(iter(columns.values()), ())), self.max_rows)
            return self.schema.encode(columns)
        except TooLargeError as error:
            return problem(413, str(error))
        except ValidationError as error:
            return _invalid(error, self.schema.names)
        except DataError as error:
            return problem(422, str(error))

    def _finish(
        self, batch: EncodedBatch, answers: np.ndarray, level: float | None
    ) -> tuple[int, bytes]:
        features = batch.features
        if self.drift is not None:
            self.drift.observe(batch, answers)
        self.metrics.rows.inc(len(features.numeric))
        if features.unseen_categories:
            self.metrics.unseen.inc(features.unseen_categories)
        if batch.missing_values:
            self.metrics.missing.inc(batch.missing_values)
        answer: dict[str, Any] = {
            **self.model.answer_fields(features, answers, level),
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


def count_rows(body: bytes) -> int:
    """The rows of a JSON body (a list of records or an object of columns), counted without
    building Python objects: a scan, a megabyte at a time with numpy, of the commas outside
    texts, at the top level (records) or in the longest list (columns); an empty list counts
    as one. A body that is neither gives a count that the parser then refuses.

    Raises :class:`DataError` for values nested deeper than a valid body's.

    Example:
        >>> count_rows(b'[{"a": "x,y"}, {"a": null}]'), count_rows(b'{"a": [1, 2, 3]}')
        (2, 3)
    """
    opening = EMPTY_OR_OPENING.match(body)
    if opening is None or opening.group(2):  # not a list or an object, or an empty one
        return 0
    scan = _Scan(records=opening.group(1) == b"[")
    data = np.frombuffer(body, dtype=np.uint8)
    for offset in range(0, len(data), SCAN_BYTES):
        scan.feed(data[offset : offset + SCAN_BYTES])
    if scan.too_deep:
        raise DataError(
            "the body nests lists or objects too deeply; send a list of records (one flat "
            "object per row) or an object of columns (one list of values per feature)"
        )
    if scan.records:
        return scan.commas + 1
    return scan.longest + 1 if scan.lists else 0


class _Scan:
    """:func:`count_rows`'s state between pieces of the body."""

    def __init__(self, *, records: bool) -> None:
        self.records = records
        self.backslashes = 0  # the run of backslashes that ends the previous piece
        self.in_text = 0  # 1 if the previous piece ended inside a text
        self.depth = 0
        self.commas = 0  # records: the top-level commas
        self.lists = 0  # columns: the lists seen, the commas of the current and longest
        self.current = 0
        self.longest = 0
        self.too_deep = False

    def feed(self, piece: np.ndarray) -> None:
        index = np.arange(len(piece))
        backslash = piece == BACKSLASH
        last = np.maximum.accumulate(np.where(backslash, -1 - self.backslashes, index))
        before = np.concatenate(([-1 - self.backslashes], last[:-1]))
        quotes = (piece == QUOTE) & ((index - 1 - before) % 2 == 0)  # not escaped
        texts = np.cumsum(quotes) + self.in_text
        outside = texts % 2 == 0
        level = self.depth + np.cumsum(np.where(outside, NESTING[piece], 0))
        commas = (piece == COMMA) & outside
        self.too_deep = self.too_deep or bool(np.any(commas & (level > 2)))
        if self.records:
            self.commas += int(np.count_nonzero(commas & (level == 1)))
        else:
            opens = (piece == OPEN_LIST) & outside & (level == 2)
            labels = np.cumsum(opens)
            counts = np.bincount(labels[commas & (level == 2)], minlength=int(labels[-1]) + 1)
            counts[0] += self.current
            self.longest = max(self.longest, int(counts.max()))
            self.current = int(counts[-1])
            self.lists += int(labels[-1])
        self.backslashes = len(piece) - 1 - int(last[-1])
        self.in_text = int(texts[-1] % 2)
        self.depth = int(level[-1])


def _check_rows(n_rows: int, max_rows: int) -> None:
    if n_rows > max_rows:
        raise TooLargeError(f"the request has {n_rows} rows; send at most {max_rows} per request")


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
