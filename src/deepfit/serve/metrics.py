"""Prometheus metrics of the prediction server, and the ASGI layer that records them.

With several worker processes, each writes its figures to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``GET /metrics`` adds them up (prometheus_client's
multiprocess mode); ``deepfit serve`` sets that folder up when ``--workers`` exceeds one.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
disable_created_metrics()  # the *_created series only add noise to a scrape

KNOWN_PATHS = frozenset({"/predict", "/health", "/metadata", "/metrics", "/docs", "/openapi.json"})


class ServerMetrics:
    """The counters and histograms ``GET /metrics`` exposes."""

    def __init__(self, *, model_version: str, target: str, deepfit_version: str) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # In multiprocess mode the figures live in files, so the objects join no registry.
        self.registry: CollectorRegistry | None = None if self.multiprocess else CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "deepfit_requests",
            "HTTP requests answered, by path and status code.",
            ["path", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "deepfit_request_duration_seconds",
            "Time from request to the end of the response, by path.",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rows = Counter("deepfit_rows_predicted", "Rows predicted.", registry=registry)
        self.unseen = Counter(
            "deepfit_unseen_categories",
            "Categorical values not seen in training (they used the 'unknown' category).",
            registry=registry,
        )
        self.missing = Counter(
            "deepfit_missing_values",
            "Feature values sent as null (imputed by the model).",
            registry=registry,
        )
        info = Gauge(
            "deepfit_model_info",
            "The model being served (always 1).",
            ["model_version", "target", "deepfit_version"],
            registry=registry,
            multiprocess_mode="max",
        )
        info.labels(model_version, target, deepfit_version).set(1)

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        if self.registry is not None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST


class Gatekeeper:
    """ASGI middleware: checks the API key, then times and counts every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, api_key: str | None) -> None:
        self.app = app
        self.metrics = metrics
        self.api_key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope.get("path", "")
        label = path if path in KNOWN_PATHS else "other"
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            if self.api_key is not None and not self._authorised(scope):
                await _unauthorised(send_and_note)
            else:
                await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.requests.labels(label, str(status)).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - start)

    def _authorised(self, scope: Scope) -> bool:
        assert self.api_key is not None
        offered = b""
        for name, value in scope.get("headers", []):
            if name == b"x-api-key":
                offered = value
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                offered = value[7:].strip()
        return hmac.compare_digest(offered, self.api_key)


async def _unauthorised(send: Send) -> None:
    body = (
        b'{"error":"missing or wrong API key; send it in the X-API-Key header '
        b'or as Authorization: Bearer <key>"}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
