"""What every model's server answers besides its prediction route: ``/health``,
``/metadata`` and ``/metrics``, and one-line 422s for a bad query.

Example:
    >>> app = FastAPI()
    >>> add_status_routes(app, version="v1", metadata=b"{}", metrics=metrics)  # doctest: +SKIP
"""

from __future__ import annotations

import ntpath
import posixpath
import re
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from deepfit.serve.metrics import ServerMetrics
from deepfit.serve.predictor import problem

JSON = "application/json"
ABSOLUTE_PATH = re.compile(r"^(?:/|~[/\\]|[A-Za-z]:[/\\]|\\\\)")  # POSIX, ~, C:\, UNC


def public(value: Any) -> Any:
    """``value`` (JSON-like) with every absolute path in a text cut to its last part, so that
    ``/metadata`` does not show where the model's files were.

    Example:
        >>> public({"init_from": "/home/me/runs/base.deepfit", "epochs": 12})
        {'init_from': 'base.deepfit', 'epochs': 12}
    """
    if isinstance(value, str):
        if not ABSOLUTE_PATH.match(value):
            return value
        return ntpath.basename(value) if "\\" in value else posixpath.basename(value.rstrip("/"))
    if isinstance(value, dict):
        return {key: public(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [public(item) for item in value]
    return value


def reply(status: int, content: bytes) -> Response:
    """A JSON response of already-encoded ``content``."""
    return Response(content, status_code=status, media_type=JSON)


def add_query_errors(app: FastAPI) -> None:
    """Answer an invalid query parameter with a 422 whose ``error`` is one line."""

    @app.exception_handler(RequestValidationError)
    async def invalid_query(request: Request, error: RequestValidationError) -> Response:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in error.errors()]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return reply(*problem(422, f"{where}: {str(first['msg']).lower()}", details))


def add_status_routes(
    app: FastAPI, *, version: str, metadata: bytes, metrics: ServerMetrics
) -> None:
    """``GET /health`` (liveness, uptime), ``/metadata`` (``metadata``, already JSON) and
    ``/metrics`` (Prometheus)."""
    started = time.time()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness and readiness: the model is loaded and answering."""
        return {
            "status": "ok",
            "model_version": version,
            "backend": "torch",
            "uptime_seconds": round(time.time() - started, 3),
        }

    @app.get("/metadata")
    async def get_metadata() -> Response:
        """What the model needs in a request, how it reads it, its training summary, versions."""
        return reply(200, metadata)

    @app.get("/metrics", response_class=Response)
    async def get_metrics() -> Response:
        """Request counts, latencies, and rows answered."""
        content, content_type = metrics.exposition()
        return Response(content, media_type=content_type)
