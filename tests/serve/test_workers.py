"""``deepfit serve --workers 2`` as a real process: a dead worker is replaced, and SIGTERM lets
the requests in flight finish before the server exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deepfit import Regressor
from tests.support.tables import make_table

START_TIMEOUT = 120.0
SLOW_ROWS = 3  # a request of this many rows takes SLOW_SECONDS to predict
SLOW_SECONDS = 3.0
# spawn's children import the parent's main script, so the slow engine reaches every worker
# (it touches the file SLOW_MARK names once a slow prediction has begun)
SLOW_MARK = "DEEPFIT_TEST_SLOW_MARK"
SCRIPT = f"""
import os
import time
from pathlib import Path

from deepfit.serve.engine import InferenceEngine

_predict = InferenceEngine.predict


def _slow(self, numeric, codes):
    if numeric.shape[0] == {SLOW_ROWS}:
        Path(os.environ["{SLOW_MARK}"]).touch()
        time.sleep({SLOW_SECONDS})
    return _predict(self, numeric, codes)


InferenceEngine.predict = _slow

if __name__ == "__main__":
    from deepfit.cli import app

    app()
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _call(url: str, body: bytes | None = None, timeout: float = 30) -> int:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            if _call(f"{url}/health", timeout=5) == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "the server did not answer in time"
        time.sleep(0.3)


def _workers(pid: int) -> set[int]:
    """The worker processes of the server ``pid`` (spawned children, not helpers)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture(params=[2])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, fitted: Regressor
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    workers = str(request.param)
    model = fitted.save(tmp_path / "m.deepfit")
    script = tmp_path / "slow_server.py"
    script.write_text(SCRIPT)
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "serve",
            str(model),
            "--port",
            str(port),
            "--workers",
            workers,
        ],
        env=os.environ
        | {
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.getcwd(),
            SLOW_MARK: str(tmp_path / "predicting"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, START_TIMEOUT)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()


def test_a_worker_that_dies_is_replaced(server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, process = server
    _wait_for(lambda: len(_workers(process.pid)) == 2, 30, "two workers did not start")
    first, second = sorted(_workers(process.pid))
    os.kill(first, signal.SIGKILL)
    _wait_for(
        lambda: len(_workers(process.pid) - {first, second}) >= 1, 30, "no worker was started"
    )
    os.kill(second, signal.SIGKILL)  # only replacements are left to answer
    _wait_healthy(url, process, START_TIMEOUT)
    assert process.poll() is None
    assert not _workers(process.pid) & {first, second}


@pytest.mark.parametrize("server", [1, 2], indirect=True, ids=["1-worker", "2-workers"])
def test_sigterm_lets_a_request_in_flight_finish(
    server: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, process = server
    rows = json.loads(make_table(SLOW_ROWS, seed=2).drop(columns="y").to_json(orient="records"))
    statuses: list[int | str] = []

    def slow_request() -> None:
        try:
            statuses.append(_call(f"{url}/predict", json.dumps(rows).encode()))
        except OSError as error:
            statuses.append(repr(error))

    caller = threading.Thread(target=slow_request)
    caller.start()
    # a fixed wait raced the request on a busy machine: SIGTERM before a worker had read it
    predicting = tmp_path / "predicting"
    _wait_for(predicting.exists, 60, "the slow request never reached a worker")
    process.send_signal(signal.SIGTERM)
    caller.join(timeout=30)
    assert statuses == [200]
    assert process.wait(timeout=30) == 0


def test_restarts_back_off_and_stop_when_a_worker_keeps_dying() -> None:
    from deepfit.serve.run import RestartPolicy

    policy = RestartPolicy(limit=3, window=60.0)
    assert [policy.delay(t) for t in (0.0, 1.0, 2.0)] == [0.5, 1.0, 2.0]
    assert policy.delay(3.0) is None  # a fourth death within the minute: give up
    assert policy.delay(61.5) == 1.0  # the first two left the window
