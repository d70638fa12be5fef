"""The ASGI layer in front of the app: API key, request metrics, and the /predict fast path.

``POST /predict`` is answered here, straight from the ASGI messages, rather than through
FastAPI's routing and dependency machinery, which costs more than validating and predicting
one row. FastAPI still documents the route (its OpenAPI schema) and serves everything else.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from deepfit.serve.metrics import ServerMetrics
from deepfit.serve.predictor import Predictor, TooLargeError, problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KNOWN_PATHS = frozenset({"/predict", "/health", "/metadata", "/metrics", "/docs", "/openapi.json"})
UNAUTHORISED = (
    b'{"error":"missing or wrong API key; send it in the X-API-Key header '
    b'or as Authorization: Bearer <key>","detail":[]}'
)


class Gateway:
    """Checks the API key, times and counts every HTTP request, answers ``POST /predict``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServerMetrics,
        predictor: Predictor,
        api_key: str | None,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.predictor = predictor
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope.get("path", "")
        status = 500
        try:
            if self.api_key is not None and not authorised(scope, self.api_key):
                status = 401
                await _respond(send, 401, UNAUTHORISED, [(b"www-authenticate", b"Bearer")])
            elif path == "/predict" and scope.get("method") == "POST":
                try:
                    body = await self._body(scope, receive)
                except TooLargeError as error:
                    status, content = problem(413, str(error))
                else:
                    query = scope.get("query_string", b"")
                    status, content = await self.predictor.answer(body, query)
                await _respond(send, status, content)
            else:

                async def send_and_note(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = int(message["status"])
                    await send(message)

                await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.observe(path if path in KNOWN_PATHS else "other", status, start)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        """The whole request body, refused as soon as it is known to exceed the limit."""
        limit = self.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise TooLargeError(f"the body has {int(value)} bytes; the limit is {limit}")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise TooLargeError(f"the body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def authorised(scope: Scope, api_key: bytes) -> bool:
    """Whether the request offers ``api_key`` (``X-API-Key`` or ``Authorization: Bearer``),
    compared in constant time."""
    offered = b""
    for name, value in scope.get("headers", []):
        if name == b"x-api-key":
            offered = value
        elif name == b"authorization" and value[:7].lower() == b"bearer ":
            offered = value[7:].strip()
    return hmac.compare_digest(offered, api_key)


async def _respond(
    send: Send, status: int, content: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
