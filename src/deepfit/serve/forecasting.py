"""The HTTP forecasting server: ``POST /forecast`` around one loaded :class:`Forecaster`.

The body ``{"history": [records...], "future": [records...] or null}`` holds the long-format
rows :meth:`Forecaster.predict` takes; ``?interval=0.9`` adds conformal bounds. Size and row
count are checked before any DataFrame is built; the forecast runs in a worker thread.

Example:
    >>> from fastapi.testclient import TestClient
    >>> app = create_forecast_app(forecaster, ServerSettings(), "in-memory")  # doctest: +SKIP
    >>> TestClient(app).post("/forecast", json={"history": rows}).json()  # doctest: +SKIP
    {'forecasts': [{'id': 's0', 'timestamp': '2024-01-09T00:00:00', ...}], ...}
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Annotated, Any, Protocol

import orjson
import pandas as pd
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from deepfit.errors import ConfigError, DataError
from deepfit.estimator.forecaster import Forecaster
from deepfit.serve.gateway import (
    OPEN_HEALTH,
    UNAUTHORISED,
    WRONG_HOST,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    authorised,
    host_allowed,
    host_names,
    is_json,
)
from deepfit.serve.metrics import ServerMetrics
from deepfit.serve.predictor import TooLargeError, problem
from deepfit.serve.routes import add_query_errors, add_status_routes, public, reply
from deepfit.version import __version__

JSON = "application/json"
PATHS = frozenset({"/forecast", "/health", "/metadata", "/metrics", "/docs", "/openapi.json"})
OPEN_PATHS = frozenset({"/health"})  # answered without a key: load balancers probe it
SHAPE = 'send {"history": [records...], "future": [records...] or null}'
INTERVAL = Query(gt=0, lt=1, description="A coverage level, e.g. 0.9: adds conformal bounds.")


class ServerLimits(Protocol):
    """What this server reads of :class:`~deepfit.serve.app.ServerSettings` (no import cycle)."""

    @property
    def api_key(self) -> str | None: ...

    @property
    def max_body_bytes(self) -> int: ...

    @property
    def max_rows(self) -> int: ...

    @property
    def request_timeout(self) -> float: ...

    @property
    def allowed_hosts(self) -> tuple[str, ...] | None: ...


class ForecastRequest(BaseModel):
    """The body of ``POST /forecast`` (for the documentation: the server parses it itself)."""

    history: list[dict[str, Any]] = Field(description="Recent rows of each series (/metadata).")
    future: list[dict[str, Any]] | None = Field(
        default=None, description="The known covariates of the horizon's steps, or null."
    )


class Forecast(BaseModel):
    """The answer of ``POST /forecast``: ``horizon`` rows per series, times in ISO 8601."""

    forecasts: list[dict[str, Any]]
    target: str
    horizon: int
    model_version: str
    interval: float | None = None


def create_forecast_app(
    forecaster: Forecaster, settings: ServerLimits, version: str
) -> ForecastGateway:
    """An ASGI app forecasting with ``forecaster``: ``POST /forecast``, ``GET /health``,
    ``/metadata``, ``/metrics`` and ``/docs``, behind a :class:`ForecastGateway`."""
    fit = forecaster.check_fitted()
    target = fit.preparer.columns.target
    metrics = ServerMetrics(model_version=version, target=target, deepfit_version=__version__)
    app = FastAPI(
        telemetry={"tracing": False, "metrics": False, "logs": False},  # we export Prometheus
        title=f"deepfit: forecast {target}",
        version=__version__,
        description=f"Forecasts '{target}' {fit.preparer.horizon} steps ahead; /metadata names "
        "the columns each record needs.",
    )

    add_query_errors(app)

    _routes(app, forecaster, settings, version, metrics)
    return ForecastGateway(
        app, metrics=metrics, api_key=settings.api_key, allowed_hosts=settings.allowed_hosts
    )


def _routes(
    app: FastAPI,
    forecaster: Forecaster,
    settings: ServerLimits,
    version: str,
    metrics: ServerMetrics,
) -> None:
    metadata = orjson.dumps(forecast_metadata(forecaster, version, settings.max_rows))
    body = {"required": True, "content": {JSON: {"schema": ForecastRequest.model_json_schema()}}}

    @app.post("/forecast", response_model=Forecast, openapi_extra={"requestBody": body})
    async def forecast(
        request: Request, interval: Annotated[float | None, INTERVAL] = None
    ) -> Response:
        """Forecast the horizon after each series' history (413: too large; 422: invalid)."""
        kind = request.headers.get("content-type")
        if kind is not None and not is_json(kind.encode("latin-1")):
            return reply(*problem(415, "send the body as application/json (the Content-Type)"))
        try:
            raw = await read_body(request, settings.max_body_bytes, settings.request_timeout)
            history, future = parse_forecast_request(raw, settings.max_rows)
            answer = await run_in_threadpool(forecast_answer, forecaster, history, future, interval)
        except TooLargeError as error:
            return reply(*problem(413, str(error)))
        except TimeoutError:
            return late(settings.request_timeout)
        except ClientDisconnect:  # gone before the whole body came: no work for nobody
            return Response(status_code=499)
        except (DataError, ConfigError) as error:
            return reply(*problem(422, str(error)))
        metrics.rows.inc(len(answer["forecasts"]))
        return reply(200, orjson.dumps(answer | {"model_version": version}))

    add_status_routes(app, version=version, metadata=metadata, metrics=metrics)


async def read_body(request: Request, limit: int, timeout: float = 30.0) -> bytes:
    """The request's body, refused (:class:`TooLargeError`) as soon as it exceeds ``limit``:
    from its content-length, or while reading; ``TimeoutError`` if it takes over ``timeout``
    seconds to arrive."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"the body has {int(declared)} bytes; the limit is {limit}")
    chunks, size = [], 0
    async with asyncio.timeout(timeout):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLargeError(f"the body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def late(timeout: float) -> Response:
    """The 408 of a body that did not arrive in time; the connection is closed."""
    status, content = problem(408, f"the body did not arrive within {timeout:g} seconds")
    return Response(content, status, {"connection": "close"}, JSON)


def parse_forecast_request(
    body: bytes, max_rows: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The history and future records of a body: a :class:`DataError` for bad JSON or a wrong
    shape, a :class:`TooLargeError` for more than ``max_rows`` records in all.

    Example:
        >>> parse_forecast_request(b'{"history": [{"t": "2024-01-01", "y": 1}]}', 10)
        ([{'t': '2024-01-01', 'y': 1}], None)
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DataError(f"the body is not valid JSON; {SHAPE}") from None
    if not isinstance(document, dict) or not isinstance(document.get("history"), list):
        raise DataError(f"the body must be a JSON object with a list of history records; {SHAPE}")
    unknown = sorted(set(document) - {"history", "future"})
    if unknown:
        raise DataError(f"the body has unknown field(s) {', '.join(unknown)}; {SHAPE}")
    history, future = document["history"], document.get("future")
    if future is not None and not isinstance(future, list):
        raise DataError(f"future must be a list of records or null; {SHAPE}")
    n_rows = len(history) + len(future or [])
    if n_rows > max_rows:
        raise TooLargeError(f"the request has {n_rows} records; send at most {max_rows}")
    if not history:
        raise DataError("history has no records; send the recent rows of each series")
    for name, records in (("history", history), ("future", future or [])):
        bad = next((i for i, record in enumerate(records) if not _flat(record)), None)
        if bad is not None:
            raise DataError(
                f"{name}[{bad}] is not an object of numbers, texts and nulls; send one per row"
            )
    return history, future


def forecast_answer(
    forecaster: Forecaster,
    history: list[dict[str, Any]],
    future: list[dict[str, Any]] | None,
    interval: float | None,
) -> dict[str, Any]:
    """The answer to a parsed request (CPU-bound: run it in a worker thread)."""
    frame = forecaster.predict(
        pd.DataFrame.from_records(history),
        None if future is None else pd.DataFrame.from_records(future),
        interval=interval,
    )
    preparer = forecaster.check_fitted().preparer
    time_column = preparer.columns.time
    if pd.api.types.is_datetime64_any_dtype(frame[time_column]):  # numbers stay numbers
        frame[time_column] = [stamp.isoformat() for stamp in frame[time_column]]
    return {
        "forecasts": frame.to_dict(orient="records"),
        "target": preparer.columns.target,
        "horizon": preparer.horizon,
        "interval": interval,
    }


def forecast_metadata(forecaster: Forecaster, version: str, max_rows: int) -> dict[str, Any]:
    """What ``GET /metadata`` answers: the columns a request needs and how the model reads them
    (no file paths)."""
    fit = forecaster.check_fitted()
    preparer, columns, conformal = fit.preparer, fit.preparer.columns, fit.conformal
    return {
        "task": "forecasting",
        "target": columns.target,
        "time": columns.time,
        "series": columns.series,
        "known": list(columns.known),
        "past": list(preparer.past_names),
        "horizon": preparer.horizon,
        "lookback": preparer.lookback,
        "min_history": fit.min_history,
        "frequency": preparer.frequency,
        "model": fit.settings.get("model"),
        "series_ids": list(preparer.ids),
        "intervals": None if conformal is None else {"calibration_windows": min(conformal.counts)},
        "max_rows": max_rows,
        "training": public(fit.summary),
        "model_version": version,
        "deepfit_version": __version__,
    }


class ForecastGateway:
    """Checks the Host header (when ``allowed_hosts`` is given) and the API key (``X-API-Key``
    or ``Authorization: Bearer``; ``/health`` without it says only ``{"status": "ok"}``), and
    times and counts every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServerMetrics,
        api_key: str | None,
        paths: frozenset[str] = PATHS,
        allowed_hosts: Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.api_key = api_key.encode() if api_key else None
        self.paths = paths
        self.hosts = host_names(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, path, status = time.perf_counter(), scope.get("path", ""), 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            if self.hosts is not None and not host_allowed(scope, self.hosts):
                await Response(WRONG_HOST, 400, None, JSON)(scope, receive, send_and_note)
            elif self.api_key is None or authorised(scope, self.api_key):
                await self.app(scope, receive, send_and_note)
            elif path in OPEN_PATHS:
                await Response(OPEN_HEALTH, 200, None, JSON)(scope, receive, send_and_note)
            else:
                refusal = Response(UNAUTHORISED, 401, {"www-authenticate": "Bearer"}, JSON)
                await refusal(scope, receive, send_and_note)
        finally:
            self.metrics.observe(path if path in self.paths else "other", status, start)


def _flat(record: Any) -> bool:
    return isinstance(record, dict) and not any(isinstance(v, list | dict) for v in record.values())
