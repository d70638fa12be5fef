"""Run the prediction server with uvicorn, in one process or several.

**Changed** from uvicorn's own ``--workers``: there, the workers share one listening socket,
and when many clients connect at once most connections land on one worker (we saw 27 of 32
on one, with four times the latency of the other). On Linux each worker here opens its own
socket on the same port with ``SO_REUSEPORT``, and the kernel spreads connections evenly.
Elsewhere uvicorn's workers are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import torch
import uvicorn

from deepfit.errors import ConfigError
from deepfit.serve.app import ServerSettings, create_app, settle

if TYPE_CHECKING:
    from deepfit.serve.engine import ServedMembers

APP_FACTORY = "deepfit.serve.app:app_from_environment"
DRAIN_SECONDS = 10.0  # on SIGTERM/SIGINT, requests in flight get this long to finish
STOP_SECONDS = DRAIN_SECONDS + 5.0
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
MAX_HEADER_BYTES = 32 * 1024  # h11's limit on a request's head (httptools has its own)
HEAD_SECONDS = 10.0  # a connection whose request head takes longer is closed (httptools)
RESTARTS = 5  # a worker that dies is restarted, at most this often in RESTART_WINDOW
RESTART_WINDOW = 60.0
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def serve(
    model_path: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    settings: ServerSettings | None = None,
    api_key_env: str | None = None,
    access_log: bool = False,
    announce: Callable[[str], None] | None = None,
    extra_hosts: Sequence[str] = (),
) -> None:
    """Serve ``model_path`` until SIGTERM or Ctrl-C (then requests in flight get
    :data:`DRAIN_SECONDS` to finish); the model is loaded once per worker process.

    On loopback without an API key, only requests whose Host header is a loopback name or
    one of ``extra_hosts`` are answered (no DNS rebinding); beyond loopback without a key,
    ``announce`` gets a warning.

    Example:
        >>> serve(Path("price.deepfit"), port=8080, workers=2)  # doctest: +SKIP
    """
    settings = settings or ServerSettings()
    threads = settings.threads
    if workers < 1 or threads < 1:
        raise ConfigError(
            f"workers and threads must be positive, however: workers={workers}, threads={threads}"
        )
    if settings.request_timeout <= 0 or settings.max_connections < 1:
        raise ConfigError("--request-timeout and --max-connections must be positive")
    hosts = allowed_hosts(host, api_key=settings.api_key, extra=extra_hosts)
    settings = replace(settings, allowed_hosts=hosts)
    warning = exposure_warning(host, api_key=settings.api_key, port=port)
    options = uvicorn_options(settings)
    if workers == 1:
        torch.set_num_threads(threads)
        app = create_app(model_path, settings)
        settle()
        _announce(announce, host, port, workers, warning, getattr(app, "members", None))
        with _signals_handled_by_uvicorn():
            uvicorn.run(
                app, host=host, port=port, log_level="warning", access_log=access_log, **options
            )
        return
    checked = create_app(model_path, settings)  # fail here, once, on a bad file or setting
    _announce(announce, host, port, workers, warning, getattr(checked, "members", None))
    del checked
    metrics_dir = tempfile.mkdtemp(prefix="deepfit-metrics-")
    os.environ |= {
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "DEEPFIT_SERVE_MODEL": str(model_path.resolve()),
        "DEEPFIT_SERVE_THREADS": str(threads),
        "DEEPFIT_SERVE_BACKEND": settings.backend,
        "DEEPFIT_SERVE_MAX_BODY_BYTES": str(settings.max_body_bytes),
        "DEEPFIT_SERVE_MAX_ROWS": str(settings.max_rows),
        "DEEPFIT_SERVE_REQUEST_TIMEOUT": str(settings.request_timeout),
        "DEEPFIT_SERVE_DRIFT": "1" if settings.drift else "0",
        "DEEPFIT_SERVE_ALL_MEMBERS": "1" if settings.all_members else "0",
    }
    if hosts is not None:
        os.environ["DEEPFIT_SERVE_ALLOWED_HOSTS"] = ",".join(hosts)
    if api_key_env:
        os.environ["DEEPFIT_SERVE_API_KEY_ENV"] = api_key_env
    try:
        if hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux"):
            _run_reuse_port_workers(host, port, workers, access_log, options)
        else:
            with _signals_handled_by_uvicorn():
                uvicorn.run(
                    APP_FACTORY,
                    factory=True,
                    host=host,
                    port=port,
                    workers=workers,
                    log_level="warning",
                    access_log=access_log,
                    **options,
                )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn's limits for a server with ``settings``: connections (503 beyond), keep-alive,
    the size of a request's head (h11), and the drain on shutdown."""
    options: dict[str, Any] = {
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_graceful_shutdown": DRAIN_SECONDS,
    }
    if HeadDeadlineProtocol is not None:
        options["http"] = HeadDeadlineProtocol
    return options


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to listen on) is reachable only from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(
    host: str, *, api_key: str | None, extra: Sequence[str]
) -> tuple[str, ...] | None:
    """The Host header names a server listening on ``host`` answers to (lower case), or None
    for any: on loopback without a key, the loopback names (a page whose name was rebound to
    127.0.0.1 sends its own); anywhere, the loopback names and ``extra`` when ``extra`` is
    given.

    Example:
        >>> allowed_hosts("127.0.0.1", api_key=None, extra=["Model.Local"])
        ('localhost', '127.0.0.1', '::1', 'model.local')
    """
    names = [name.strip().strip("[]").lower() for name in extra if name.strip()]
    if not names and (api_key or not is_loopback(host)):
        return None
    return tuple(dict.fromkeys([*LOOPBACK_NAMES, *names]))


def exposure_warning(host: str, *, api_key: str | None, port: int) -> str | None:
    """The one-line warning for a server reachable beyond this machine without a key."""
    if api_key or is_loopback(host):
        return None
    return (
        f"warning: listening on {host}:{port} without an API key: anyone who can reach this "
        "port can use the model; set a key with --api-key-env NAME (NAME holding the key)"
    )


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # no httptools: uvicorn's h11 protocol, without a deadline on the head
    HeadDeadlineProtocol = None
else:

    class HeadDeadlineProtocol(HttpToolsProtocol):  # type: ignore[no-redef]
        """uvicorn's httptools protocol that closes a connection whose request line and
        headers take over :data:`HEAD_SECONDS` to arrive (slowloris); the timer starts only
        when a head is left incomplete by the data received so far."""

        head_pending = True  # a request's head is expected or under way
        head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self.head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.head_pending and self.head_timer is None:
                self.head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

        def on_message_begin(self) -> None:
            self.head_pending = True
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self.head_pending = False
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None
            super().connection_lost(exc)

        def _head_too_slow(self) -> None:
            self.head_timer = None
            if self.head_pending and not self.transport.is_closing():
                self.transport.close()


class RestartPolicy:
    """When to restart a worker that died: after a growing pause (0.5 s, doubling, at most
    8 s), and not at all after :data:`RESTARTS` restarts within :data:`RESTART_WINDOW`
    seconds (a worker that dies at start-up would otherwise loop forever).

    Example:
        >>> policy = RestartPolicy(limit=2, window=60.0)
        >>> policy.delay(0.0), policy.delay(1.0), policy.delay(2.0)
        (0.5, 1.0, None)
    """

    def __init__(self, limit: int = RESTARTS, window: float = RESTART_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self.times: list[float] = []

    def delay(self, now: float) -> float | None:
        """Seconds to wait before the restart of a worker that died at ``now``, or None."""
        self.times = [moment for moment in self.times if now - moment < self.window]
        if len(self.times) >= self.limit:
            return None
        self.times.append(now)
        return min(0.5 * 2 ** (len(self.times) - 1), 8.0)


def _run_reuse_port_workers(
    host: str, port: int, workers: int, access_log: bool, options: dict[str, Any]
) -> None:
    """Run ``workers`` processes, each listening on its own ``SO_REUSEPORT`` socket; restart
    one that dies; on SIGTERM or SIGINT, stop them all (each drains its requests)."""
    with _reuse_port_socket(host, port) as holder:  # claims the port; never listens itself
        port = holder.getsockname()[1]
        context = multiprocessing.get_context("spawn")

        def start(number: int) -> multiprocessing.process.BaseProcess:
            process = context.Process(
                target=_worker, args=(host, port, access_log, options), name=f"worker-{number}"
            )
            process.start()
            return process

        stopping = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.set()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        processes: list[multiprocessing.process.BaseProcess] = []
        try:
            processes = [start(number) for number in range(workers)]
            _supervise(processes, start, stopping)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            _stop(processes)


def _supervise(
    processes: list[multiprocessing.process.BaseProcess],
    start: Callable[[int], multiprocessing.process.BaseProcess],
    stopping: threading.Event,
) -> None:
    """Replace the workers that die until ``stopping`` is set; a ConfigError when they die too
    often."""
    policy = RestartPolicy()
    due: dict[int, float] = {}  # worker number: when to start it again
    while not stopping.is_set():
        multiprocessing.connection.wait(
            [process.sentinel for process in processes if process.is_alive()], timeout=0.25
        )
        now = time.monotonic()
        for number, process in enumerate(processes):
            if stopping.is_set():
                return
            if number not in due and not process.is_alive():
                delay = policy.delay(now)
                if delay is None:
                    raise ConfigError(
                        f"a worker died {RESTARTS + 1} times within {RESTART_WINDOW:g} s (last "
                        f"exit status {process.exitcode}); stopping the server"
                    )
                due[number] = now + delay
            if number in due and now >= due[number]:
                del due[number]
                processes[number] = start(number)


def _worker(host: str, port: int, access_log: bool, options: dict[str, Any]) -> None:
    """One worker process: its own socket on the shared port, then uvicorn until stopped."""
    parent = os.getppid()
    threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()
    with _reuse_port_socket(host, port) as sock:
        sock.listen(2048)
        config = uvicorn.Config(
            APP_FACTORY, factory=True, log_level="warning", access_log=access_log, **options
        )
        uvicorn.Server(config).run(sockets=[sock])


def _stop_when_orphaned(parent: int) -> None:
    """Stop this worker (gracefully) once its parent is gone, e.g. killed with SIGKILL."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def _signals_handled_by_uvicorn() -> Iterator[None]:
    """Let uvicorn's SIGTERM and SIGINT handling (drain, then stop) end the server with exit
    status 0: uvicorn raises the signal again once it is done, and this catches it."""
    previous = {
        sig: signal.signal(sig, lambda signum, frame: None)
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({error.strerror}); choose another --port or --host"
        ) from error
    return sock


def _stop(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """Ask every worker to finish (SIGTERM: uvicorn shuts down gracefully), then make sure."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _announce(
    announce: Callable[[str], None] | None,
    host: str,
    port: int,
    workers: int,
    warning: str | None,
    members: ServedMembers | None = None,
) -> None:
    if announce is not None:
        url = f"http://{host}:{port}"
        announce(f"serving on {url} ({workers} worker(s)); API docs at {url}/docs; Ctrl-C stops")
        if members is not None and not members.every:
            announce(
                f"TabM members served: {members}; faster than all of them, and slightly "
                "less accurate on new rows (--all-members serves every one)"
            )
        if warning is not None:
            announce(warning)
