"""Run the prediction server with uvicorn, in one process or several."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
import uvicorn

from deepfit.errors import ConfigError
from deepfit.serve.app import ServerSettings, create_app


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
        uvicorn.run(
            "deepfit.serve.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=access_log,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _announce(announce: Callable[[str], None] | None, host: str, port: int, workers: int) -> None:
    if announce is not None:
        url = f"http://{host}:{port}"
        announce(f"serving on {url} ({workers} worker(s)); API docs at {url}/docs; Ctrl-C stops")
