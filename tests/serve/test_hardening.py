"""The server's answers to a security review (issue 17): bounded parsing, work off the event
loop, deadlines, disconnects, Host and Content-Type checks, an open /health, no paths."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from deepfit import Forecaster, Regressor
from deepfit.cli import app as cli
from deepfit.serve import ServerSettings, create_app
from deepfit.serve.gateway import BodyDeadlines, Gateway
from tests.support.series import make_series
from tests.support.tables import make_table

Message = dict[str, Any]


def _rows(n: int, seed: int = 1) -> list[dict[str, Any]]:
    return json.loads(make_table(n, seed=seed).drop(columns="y").to_json(orient="records"))


@pytest.fixture(scope="module")
def big_app(fitted: Regressor) -> Gateway:
    """Limits that let a request be big enough to leave the event loop."""
    app = create_app(fitted, ServerSettings(max_body_bytes=4 * 2**20, max_rows=5_000))
    assert isinstance(app, Gateway)
    return app


async def _call(
    app: Any,
    path: str,
    body: bytes | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    receive: Callable[[], Awaitable[Message]] | None = None,
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One HTTP request straight through the ASGI app: status, headers, body."""
    scope = {
        "type": "http",
        "method": "GET" if body is None and receive is None else "POST",
        "path": path,
        "query_string": b"",
        "headers": headers or [(b"host", b"localhost:8000")],
    }
    sent = False

    async def one_body() -> Message:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body or b"", "more_body": False}

    answer: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = dict(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive or one_body, send)
    return answer["status"], answer["headers"], answer["body"]


# ------------------------------------------------------------ 1: rows counted before parsing
@pytest.mark.parametrize(
    ("body", "rows"),
    [
        (b"[]", 0),
        (b" [ ] ", 0),
        (b'[{"a": 1}]', 1),
        (b'[{"a": "x,y{[", "b": 2}, {"a": null, "b": 3}]', 2),
        (b'[{"a": "quote \\" ,,, \\\\", "b": 1}, {}, 3]', 3),
        (b'{"a": [1, 2, 3], "b": ["x,y", "z", null]}', 3),
        (b'{"a": [1], "b": [2]}', 1),
        (b"{}", 0),
    ],
)
def test_rows_are_counted_without_parsing(body: bytes, rows: int) -> None:
    from deepfit.serve.predictor import count_rows

    assert count_rows(body) == rows


def test_too_many_rows_are_413_before_the_body_is_parsed(
    app: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(body: bytes) -> Any:
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(app.predictor.schema, "parse", never)
    client = TestClient(app)
    many = client.post("/predict", json=_rows(1) * 501)
    assert many.status_code == 413
    assert "at most 500" in many.json()["error"]
    columns = {name: [1.0] * 600 for name in ["x1", "x2", "colour", "flag", "day"]}
    assert client.post("/predict", json=columns).status_code == 413
    tiny = b"[" + b",".join([b"{}"] * 5_000) + b"]"  # tiny records, no objects built
    assert client.post("/predict", content=tiny).status_code == 413


def test_commas_and_braces_in_texts_do_not_count_as_rows(client: TestClient) -> None:
    rows = [row | {"colour": "a,b,{c},[d]," * 3} for row in _rows(400)]
    answer = client.post("/predict", json=rows)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 400
    assert answer.json()["unseen_categories"] == 400


# ------------------------------------------------------------ 2: big requests leave the loop
def test_health_answers_while_a_big_request_is_predicted(
    big_app: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = big_app.predictor.batcher.engine
    real = engine.predict

    def slow(numeric: np.ndarray, codes: np.ndarray) -> np.ndarray:
        if len(numeric) > 1:
            time.sleep(1.0)
        return real(numeric, codes)

    monkeypatch.setattr(engine, "predict", slow)
    body = orjson.dumps(_rows(2_000))

    async def scenario() -> tuple[float, int, int]:
        start = time.perf_counter()
        big = asyncio.create_task(_call(big_app, "/predict", body))
        await asyncio.sleep(0.3)  # the big request is being predicted
        health, _, _ = await _call(big_app, "/health")
        waited = time.perf_counter() - start
        predicted, _, _ = await big
        return waited, health, predicted

    waited, health, predicted = asyncio.run(scenario())
    assert health == 200
    assert predicted == 200
    assert waited < 0.8  # not after the second that predicting takes


# ------------------------------------------------------------ 3: deadlines and disconnects
def test_a_body_that_stalls_gets_408_within_the_deadline(fitted: Regressor) -> None:
    app = create_app(fitted, ServerSettings(request_timeout=0.3))
    calls = 0

    async def stalling() -> Message:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b'[{"x1": 1', "more_body": True}
        await asyncio.Event().wait()
        raise AssertionError

    async def scenario() -> tuple[float, int, dict[bytes, bytes], bytes]:
        start = time.perf_counter()
        status, headers, body = await asyncio.wait_for(
            _call(app, "/predict", receive=stalling), 3.0
        )
        return time.perf_counter() - start, status, headers, body

    seconds, status, headers, body = asyncio.run(scenario())
    assert status == 408
    assert headers[b"connection"] == b"close"
    assert "\n" not in json.loads(body)["error"]
    assert seconds < 1.5


def test_a_client_that_leaves_mid_body_gets_no_prediction(
    app: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[bytes] = []

    async def answer(body: bytes, query: bytes = b"") -> tuple[int, bytes]:
        asked.append(body)
        return 200, b"{}"

    monkeypatch.setattr(app.predictor, "answer", answer)
    messages = iter(
        [
            {"type": "http.request", "body": b'[{"x1": 1', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def leaving() -> Message:
        return next(messages)

    status, _, _ = asyncio.run(_call(app, "/predict", receive=leaving))
    assert asked == []
    assert status == 0  # nothing was sent to a client that is gone


def test_uvicorn_gets_the_connection_limits() -> None:
    from deepfit.serve.run import uvicorn_options

    options = uvicorn_options(ServerSettings(max_connections=64))
    assert options["limit_concurrency"] == 64
    assert options["timeout_keep_alive"] > 0
    assert options["timeout_graceful_shutdown"] > 0
    assert 0 < options["h11_max_incomplete_event_size"] <= 64 * 1024


# ------------------------------------------------------------ 4: Host allow-list
def test_only_local_host_names_reach_a_local_keyless_server(fitted: Regressor) -> None:
    from deepfit.serve.run import allowed_hosts

    hosts = allowed_hosts("127.0.0.1", api_key=None, extra=["model.internal"])
    app = create_app(fitted, ServerSettings(allowed_hosts=hosts))
    for base in ("http://localhost:8000", "http://127.0.0.1", "http://[::1]:8000"):
        assert TestClient(app, base_url=base).get("/health").status_code == 200, base
    assert TestClient(app, base_url="http://model.internal:80").get("/health").status_code == 200
    rebound = TestClient(app, base_url="http://attacker.example:8000")
    for answer in (rebound.get("/health"), rebound.post("/predict", json=_rows(1))):
        assert answer.status_code == 400
        assert "host" in answer.json()["error"].lower()
        assert "\n" not in answer.json()["error"]


def test_the_allow_list_applies_to_local_keyless_servers() -> None:
    from deepfit.serve.run import allowed_hosts

    assert set(allowed_hosts("127.0.0.1", api_key=None, extra=[]) or ()) >= {
        "localhost",
        "127.0.0.1",
        "::1",
    }
    assert allowed_hosts("localhost", api_key=None, extra=[]) is not None
    assert allowed_hosts("127.0.0.1", api_key="k", extra=[]) is None
    assert allowed_hosts("0.0.0.0", api_key=None, extra=[]) is None
    named = allowed_hosts("0.0.0.0", api_key=None, extra=["Model.Example"])
    assert named is not None
    assert "model.example" in named


# ------------------------------------------------------------ 5: JSON only
def test_a_body_that_is_not_json_is_415(client: TestClient) -> None:
    body = json.dumps(_rows(2)).encode()
    text = client.post("/predict", content=body, headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert "application/json" in text.json()["error"]
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post("/predict", content=body, headers=form).status_code == 415
    charset = {"content-type": "application/json; charset=utf-8"}
    assert client.post("/predict", content=body, headers=charset).status_code == 200
    assert client.post("/predict", content=body).status_code == 200  # no content type


@pytest.fixture(scope="module")
def forecaster() -> Forecaster:
    frame = make_series(60, series=1)
    model = Forecaster(3, lookback=8, hidden=8, max_epochs=1, time_limit=None)
    return model.fit(frame, target="load", time="timestamp", series="id", known=["temperature"])


def test_a_forecast_that_is_not_json_is_415(forecaster: Forecaster) -> None:
    client = TestClient(create_app(forecaster))
    answer = client.post(
        "/forecast", content=b'{"history": []}', headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 415


# ------------------------------------------------------------ 6: a warning when exposed
def test_listening_beyond_loopback_without_a_key_warns() -> None:
    from deepfit.serve.run import exposure_warning

    line = exposure_warning("0.0.0.0", api_key=None, port=8000)
    assert line is not None
    assert "anyone" in line
    assert "--api-key-env" in line
    assert "\n" not in line
    assert exposure_warning("192.168.1.5", api_key=None, port=8000) is not None
    assert exposure_warning("0.0.0.0", api_key="k", port=8000) is None
    assert exposure_warning("127.0.0.1", api_key=None, port=8000) is None
    assert exposure_warning("localhost", api_key=None, port=8000) is None


def test_serve_prints_the_warning(
    tmp_path: Path, fitted: Regressor, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fitted.save(tmp_path / "m.deepfit")
    monkeypatch.setattr("deepfit.serve.run.uvicorn.run", lambda *args, **kwargs: None)
    result = CliRunner().invoke(cli, ["serve", str(model), "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    assert "anyone who can reach" in result.stderr


# ------------------------------------------------------------ 7: /health without the key
def test_health_answers_without_the_key_and_says_nothing_else(fitted: Regressor) -> None:
    client = TestClient(create_app(fitted, ServerSettings(api_key="s3cret")))
    open_health = client.get("/health")
    assert open_health.status_code == 200
    assert open_health.json() == {"status": "ok"}
    for path in ("/metadata", "/metrics"):
        assert client.get(path).status_code == 401
    assert client.post("/predict", json=_rows(1)).status_code == 401
    full = client.get("/health", headers={"X-API-Key": "s3cret"}).json()
    assert full["status"] == "ok"
    assert "model_version" in full


def test_forecast_health_without_the_key_says_only_ok(forecaster: Forecaster) -> None:
    client = TestClient(create_app(forecaster, ServerSettings(api_key="s3cret")))
    assert client.get("/health").json() == {"status": "ok"}


# ------------------------------------------------------------ 8: no paths in /metadata
def test_metadata_holds_no_absolute_paths(tmp_path: Path, fitted: Regressor) -> None:
    model = copy.deepcopy(fitted)
    model.training_summary_ = dict(model.training_summary_) | {
        "init_from": "/home/someone/secret/base.deepfit",
        "nested": {"checkpoint_dir": "C:\\runs\\ckpt"},
    }
    path = model.save(tmp_path / "m.deepfit")
    text = TestClient(create_app(path)).get("/metadata").text
    assert str(tmp_path) not in text
    assert "/home/someone" not in text
    assert "runs\\\\ckpt" not in text
    training = json.loads(text)["training"]
    assert training["init_from"] == "base.deepfit"
    assert training["nested"]["checkpoint_dir"] == "ckpt"


def test_public_reduces_paths_to_their_names() -> None:
    from deepfit.serve.routes import public

    assert public({"a": ["/x/y/z.csv", "plain", 3, None], "b": "~/data/t.parquet"}) == {
        "a": ["z.csv", "plain", 3, None],
        "b": "t.parquet",
    }


# ------------------------------------------------------------ 3: a real server's deadlines
@pytest.fixture
def live(app: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """``app`` behind uvicorn with the serve command's options, in a thread; its port."""
    import uvicorn

    from deepfit.serve import run

    monkeypatch.setattr(run, "HEAD_SECONDS", 0.5)
    monkeypatch.setattr(app, "deadlines", BodyDeadlines(0.5))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    options = run.uvicorn_options(ServerSettings())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _closed_after(port: int, data: bytes) -> tuple[float, bytes]:
    """Send ``data``, then wait: the seconds until the server closed, and what it said."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(data)
        start, answer = time.perf_counter(), b""
        while chunk := client.recv(4096):
            answer += chunk
        return time.perf_counter() - start, answer


def test_a_real_server_closes_slow_heads_and_bodies(live: int) -> None:
    seconds, answer = _closed_after(live, b"GET /health HTTP/1.1\r\nHost: local")
    assert seconds < 3
    assert answer == b""
    head = b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: 900\r\n\r\n"
    seconds, answer = _closed_after(live, head + b'[{"x1": 1')
    assert seconds < 3
    assert answer.startswith(b"HTTP/1.1 408")
    with socket.create_connection(("127.0.0.1", live), timeout=5) as client:
        for _ in range(2):  # a whole request is answered, and the next on the connection
            client.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            time.sleep(0.7)  # longer than the head deadline: only a head left half-sent counts
            assert client.recv(4096).startswith(b"HTTP/1.1 200")


def test_a_forecast_client_that_leaves_mid_body_gets_no_forecast(
    forecaster: Forecaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepfit.serve import forecasting

    asked: list[bytes] = []
    monkeypatch.setattr(forecasting, "parse_forecast_request", lambda *a: asked.append(a[0]))
    messages = iter(
        [
            {"type": "http.request", "body": b'{"history": [', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def leaving() -> Message:
        return next(messages)

    status, _, _ = asyncio.run(_call(create_app(forecaster), "/forecast", receive=leaving))
    assert asked == []
    assert status == 499
