"""``deepfit serve`` as a real process on loopback: workers, API key, metrics across workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from deepfit import Regressor
from deepfit.cli import app as cli
from tests.support.tables import make_table

KEY = "test-key-1234"
START_TIMEOUT = 90.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _call(url: str, body: bytes | None = None, key: str | None = KEY) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if key:
        request.add_header("X-API-Key", key)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def server(tmp_path: Path, fitted: Regressor) -> Iterator[str]:
    model = fitted.save(tmp_path / "m.deepfit")
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deepfit.cli",
            "serve",
            str(model),
            "--port",
            str(port),
            "--workers",
            "2",
            "--api-key-env",
            "DEEPFIT_TEST_KEY",
        ],
        env=os.environ | {"DEEPFIT_TEST_KEY": KEY, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if _call(f"{url}/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start in time"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_served_model_answers_across_workers(server: str) -> None:
    rows = json.loads(make_table(10, seed=2).drop(columns="y").to_json(orient="records"))
    for _ in range(12):
        status, body = _call(f"{server}/predict", json.dumps(rows).encode())
        assert status == 200
        assert len(json.loads(body)["predictions"]) == 10
    assert _call(f"{server}/predict", json.dumps(rows).encode(), key=None)[0] == 401
    assert _call(f"{server}/metadata", key="not-the-key")[0] == 401
    assert _call(f"{server}/health", key=None) == (200, b'{"status":"ok"}')
    status, text = _call(f"{server}/metrics")
    assert status == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }
    assert samples[("deepfit_rows_predicted_total", ())] == 120  # summed over both workers
    ok = (("path", "/predict"), ("status", "200"))
    assert samples[("deepfit_requests_total", ok)] == 12


def test_serve_refuses_a_missing_model_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "nope.deepfit")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: model file not found")
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_refuses_an_unset_key_variable(tmp_path: Path, fitted: Regressor) -> None:
    model = fitted.save(tmp_path / "m.deepfit")
    env_name = "DEEPFIT_TEST_KEY_THAT_IS_NOT_SET"
    result = CliRunner().invoke(cli, ["serve", str(model), "--api-key-env", env_name])
    assert result.exit_code == 1
    assert env_name in result.stderr
