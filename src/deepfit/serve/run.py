"""Run the prediction server with uvicorn, in one process or several.

**Changed** from uvicorn's own ``--workers``: there, the workers share one listening socket,
and when many clients connect at once most connections land on one worker (we saw 27 of 32
on one, with four times the latency of the other). On Linux each worker here opens its own
socket on the same port with ``SO_REUSEPORT``, and the kernel spreads connections evenly.
Elsewhere uvicorn's workers are used.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import torch
import uvicorn

from deepfit.errors import ConfigError
from deepfit.serve.app import ServerSettings, create_app, settle

APP_FACTORY = "deepfit.serve.app:app_from_environment"
STOP_SECONDS = 15.0


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
) -> None:
    """Serve ``model_path`` until interrupted; the model is loaded once per worker process.

    Example:
        >>> serve(Path("price.deepfit"), port=8080, workers=2)  # doctest: +SKIP
    """
    settings = settings or ServerSettings()
    threads = settings.threads
    if workers < 1 or threads < 1:
        raise ConfigError(
            f"workers and threads must be positive, however: workers={workers}, threads={threads}"
        )
    if workers == 1:
        torch.set_num_threads(threads)
        app = create_app(model_path, settings)
        settle()
        _announce(announce, host, port, workers)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=access_log)
        return
    create_app(model_path, settings)  # fail here, once, on a bad model file or setting
    _announce(announce, host, port, workers)
    metrics_dir = tempfile.mkdtemp(prefix="deepfit-metrics-")
    os.environ |= {
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "DEEPFIT_SERVE_MODEL": str(model_path.resolve()),
        "DEEPFIT_SERVE_THREADS": str(threads),
        "DEEPFIT_SERVE_BACKEND": settings.backend,
        "DEEPFIT_SERVE_MAX_BODY_BYTES": str(settings.max_body_bytes),
        "DEEPFIT_SERVE_MAX_ROWS": str(settings.max_rows),
    }
    if api_key_env:
        os.environ["DEEPFIT_SERVE_API_KEY_ENV"] = api_key_env
    try:
        if hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux"):
            _run_reuse_port_workers(host, port, workers, access_log)
        else:
            uvicorn.run(
                APP_FACTORY,
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="warning",
                access_log=access_log,
            )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_reuse_port_workers(host: str, port: int, workers: int, access_log: bool) -> None:
    """Start ``workers`` processes, each listening on its own ``SO_REUSEPORT`` socket."""
    with _reuse_port_socket(host, port) as holder:  # claims the port; never listens itself
        port = holder.getsockname()[1]
        context = multiprocessing.get_context("spawn")
        processes = [
            context.Process(target=_worker, args=(host, port, access_log), name=f"worker-{i}")
            for i in range(workers)
        ]
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            for process in processes:
                process.start()
            multiprocessing.connection.wait([process.sentinel for process in processes])
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            _stop(processes)


def _worker(host: str, port: int, access_log: bool) -> None:
    """One worker process: its own socket on the shared port, then uvicorn until stopped."""
    with _reuse_port_socket(host, port) as sock:
        sock.listen(2048)
        config = uvicorn.Config(
            APP_FACTORY, factory=True, log_level="warning", access_log=access_log
        )
        uvicorn.Server(config).run(sockets=[sock])


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


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


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


def _announce(announce: Callable[[str], None] | None, host: str, port: int, workers: int) -> None:
    if announce is not None:
        url = f"http://{host}:{port}"
        announce(f"serving on {url} ({workers} worker(s)); API docs at {url}/docs; Ctrl-C stops")
