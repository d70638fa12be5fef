"""The ASGI layer in front of the app: API key, request metrics, and the /predict fast path.

``POST /predict`` is answered here, straight from the ASGI messages, rather than through
FastAPI's routing and dependency machinery, which costs more than validating and predicting
one row. FastAPI still documents the route (its OpenAPI schema) and serves everything else.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from deepfit.serve.metrics import ServerMetrics
from deepfit.serve.predictor import Predictor, TooLargeError, problem

if TYPE_CHECKING:
    from deepfit.serve.engine import ServedMembers

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KNOWN_PATHS = frozenset(
    {"/predict", "/health", "/metadata", "/metrics", "/drift", "/docs", "/openapi.json"}
)
UNAUTHORISED = (
    b'{"error":"missing or wrong API key; send it in the X-API-Key header '
    b'or as Authorization: Bearer <key>","detail":[]}'
)
OPEN_HEALTH = b'{"status":"ok"}'  # /health without the key: liveness and nothing else
WRONG_HOST = (
    b'{"error":"this server does not answer for that Host header; use localhost or 127.0.0.1, '
    b'or start it with --allowed-host NAME","detail":[]}'
)
NOT_JSON = (
    b'{"error":"send the body as application/json (the Content-Type header), a list of '
    b'records or an object of columns","detail":[]}'
)
CLOSE = [(b"connection", b"close")]


class ClientGoneError(Exception):
    """The client disconnected before it had sent the whole body."""


class Gateway:
    """Checks the Host header and the API key, times and counts every HTTP request, answers
    ``POST /predict`` (JSON only, its body read within ``request_timeout`` seconds) and
    ``GET /health`` without the key (``{"status": "ok"}`` only)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServerMetrics,
        predictor: Predictor,
        api_key: str | None,
        max_body_bytes: int,
        request_timeout: float = 30.0,
        allowed_hosts: Iterable[str] | None = None,
        members: ServedMembers | None = None,
    ) -> None:
        self.app = app
        self.members = members  # which TabM members the network runs, for the start-up line
        self.metrics = metrics
        self.predictor = predictor
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self.hosts = host_names(allowed_hosts)
        self.deadlines = BodyDeadlines(request_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope.get("path", "")
        status = 500
        try:
            if self.hosts is not None and not host_allowed(scope, self.hosts):
                status = 400
                await respond(send, 400, WRONG_HOST)
            elif self.api_key is not None and not authorised(scope, self.api_key):
                if path == "/health" and scope.get("method") in ("GET", "HEAD"):
                    status = 200
                    await respond(send, 200, OPEN_HEALTH)
                else:
                    status = 401
                    await respond(send, 401, UNAUTHORISED, [(b"www-authenticate", b"Bearer")])
            elif path == "/predict" and scope.get("method") == "POST":
                status = await self._predict(scope, receive, send)
            else:

                async def send_and_note(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = int(message["status"])
                    await send(message)

                await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.observe(path if path in KNOWN_PATHS else "other", status, start)

    async def _predict(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer ``POST /predict``; the status sent (499 if the client went away)."""
        length, kind = b"", None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                kind = value
        if kind is not None and not is_json(kind):
            await respond(send, 415, NOT_JSON, CLOSE)
            return 415
        extra: list[tuple[bytes, bytes]] = []
        try:
            if length.isdigit() and int(length) > self.max_body_bytes:
                raise TooLargeError(
                    f"the body has {int(length)} bytes; the limit is {self.max_body_bytes}"
                )
            body = await self.deadlines.run(self._body(receive))
        except TooLargeError as error:
            status, content = problem(413, str(error))
            extra = CLOSE  # the rest of the body is not read
        except TimeoutError:
            status, content = problem(
                408, f"the body did not arrive within {self.request_timeout:g} seconds"
            )
            extra = CLOSE
        except ClientGoneError:
            return 499
        else:
            status, content = await self.predictor.answer(body, scope.get("query_string", b""))
        await respond(send, status, content, extra)
        return status

    async def _body(self, receive: Receive) -> bytes:
        """The whole request body, refused as soon as it is known to exceed the limit."""
        limit = self.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientGoneError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise TooLargeError(f"the body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


class BodyDeadlines:
    """Cancels the body reads that take longer than ``timeout`` seconds, with one timer per
    event loop that looks every ``timeout / 4`` seconds (at most 0.25), not one per request
    (``asyncio.timeout`` costs several microseconds a request; this, a dictionary entry).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.period = min(timeout / 4, 0.25)
        self.reads: dict[asyncio.Task[Any], float] = {}
        self.late: set[asyncio.Task[Any]] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def run(self, read: Awaitable[bytes]) -> bytes:
        """``await read``, or ``TimeoutError`` once it has taken ``timeout`` seconds."""
        task = asyncio.current_task()
        assert task is not None
        loop = task.get_loop()
        if self.timer is None or self.loop is not loop:  # the first read, or a new loop
            self.loop, self.reads = loop, {}
            self.timer = loop.call_later(self.period, self._check)
        self.reads[task] = loop.time() + self.timeout
        try:
            return await read
        except asyncio.CancelledError:
            if task not in self.late:
                raise
            self.late.discard(task)
            task.uncancel()
            raise TimeoutError from None
        finally:
            self.reads.pop(task, None)

    def _check(self) -> None:
        loop = self.loop
        assert loop is not None
        now = loop.time()
        for task, deadline in list(self.reads.items()):
            if now >= deadline:
                del self.reads[task]
                self.late.add(task)
                task.cancel()
        self.timer = loop.call_later(self.period, self._check) if self.reads else None


def host_names(allowed: Iterable[str] | None) -> frozenset[bytes] | None:
    """The Host header values (without a port) to accept, lower case; None: any."""
    if allowed is None:
        return None
    return frozenset(name.strip().strip("[]").lower().encode("idna") for name in allowed)


def host_allowed(scope: Scope, hosts: frozenset[bytes]) -> bool:
    """Whether the request's Host header (any port) is one of ``hosts``; a request without
    one (HTTP/1.0) passes: browsers, the vehicle of DNS rebinding, always send it."""
    for name, value in scope.get("headers", []):
        if name == b"host":
            value = value.lower()
            if value[:1] == b"[":  # [::1]:8000
                return value[1 : value.find(b"]")] in hosts
            name_part, colon, rest = value.rpartition(b":")
            return (name_part if colon else rest) in hosts
    return True


def is_json(content_type: bytes) -> bool:
    """Whether a Content-Type header names JSON (``application/json``, ``…+json``)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


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


async def respond(
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
