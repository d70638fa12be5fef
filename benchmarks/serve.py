"""Load test of ``deepfit serve``: concurrent clients on loopback, latency and throughput.

Usage: python benchmarks/serve.py [--model M.deepfit ...] [--clients 32] [--duration 30]
                                  [--workers 2] [--rows 1 1000] [--drift on off]
Starts the server on 127.0.0.1, keeps ``--clients`` connections busy (each sends its next
request as soon as the last answer arrived) for ``--duration`` seconds per request size, and
writes benchmarks/results/serve.md: requests/s, rows/s, p50/p95/p99 latency, errors. With
``--drift on off`` (the default) the same model is served twice, with drift tracking
(``GET /drift``) and without it (``--no-drift``), so its cost shows side by side. Several
``--model`` files are served one after the other, each with its own rows in the table.

Accuracy as served: while the first server of a model runs, the test rows of ``deepfit
train``'s split of California housing (15%, seed 0) are posted to it, and their RMSE is put
beside the RMSE of the same model's ``predict`` in this process (torch, every member), so a
server that runs fewer TabM members or another runtime shows what it costs.

Without ``--model`` it trains a California-housing model once (default settings, read from
../shared/data/california_housing.csv, never copied here) and keeps it in
runs/california-serve-bench.deepfit; naming that file with ``--model`` trains it too when it
is missing. The load
generator is a plain asyncio HTTP/1.1 client with ready-made request bytes, so it takes as
little CPU as possible from the server it shares the machine with.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CALIFORNIA = ROOT.parent / "shared" / "data" / "california_housing.csv"
TARGET = "median_house_value"
DEFAULT_MODEL = ROOT / "runs" / "california-serve-bench.deepfit"
RESULTS = ROOT / "benchmarks" / "results" / "serve.md"
BODIES_PER_SIZE = 64
WARM_UP_SECONDS = 3.0


@dataclass
class LoadResult:
    """What one load phase saw."""

    rows_per_request: int
    clients: int
    seconds: float
    drift: bool = True
    model: str = ""
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, nargs="+", default=[])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 1000])
    parser.add_argument("--drift", nargs="+", choices=["on", "off"], default=["on", "off"])
    args = parser.parse_args()

    if not CALIFORNIA.exists():
        sys.exit(f"benchmark skipped: {CALIFORNIA} is missing (it holds the request rows)")
    frame = pd.read_csv(CALIFORNIA).drop(columns=[TARGET])
    models = [_default_model() if path.resolve() == DEFAULT_MODEL else path for path in args.model]
    models = models or [_default_model()]
    results: list[LoadResult] = []
    accuracy: dict[str, Accuracy] = {}
    errors_in_server_log = ""
    for model in models:
        for index, drift in enumerate(args.drift):
            phase, log, served = _serve_and_load(
                frame, model, args, drift=drift == "on", score=index == 0
            )
            results += phase
            errors_in_server_log += log
            if served is not None:
                accuracy[model.name] = served
    report = _report(results, args, models, accuracy)
    print(report)
    if errors_in_server_log:
        print("server log had tracebacks:\n" + errors_in_server_log, file=sys.stderr)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(f"wrote {RESULTS}", file=sys.stderr)


@dataclass
class Accuracy:
    """Test RMSE of a model as served, and of its ``predict`` in process; what it served."""

    served: float
    in_process: float
    members: str
    backend: str


def _serve_and_load(
    frame: pd.DataFrame, model: Path, args: argparse.Namespace, *, drift: bool, score: bool
) -> tuple[list[LoadResult], str, Accuracy | None]:
    """Start ``deepfit serve`` (with or without drift tracking), score it on the test rows
    if ``score``, load it at each request size, stop it; the results, any traceback lines of
    its log, and the accuracy."""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deepfit.cli",
            "serve",
            str(model),
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--drift" if drift else "--no-drift",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_until_healthy(port, server)
        accuracy = _accuracy(port, model) if score else None
        results = [
            _run(_load(port, _bodies(frame, rows), rows, args.clients, args.duration))
            for rows in args.rows
        ]
        for result in results:
            result.drift, result.model = drift, model.name
    finally:
        server.terminate()
        try:
            _, stderr = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    log = "\n".join(
        line for line in stderr.decode(errors="replace").splitlines() if "Traceback" in line
    )
    return results, log, accuracy


def _accuracy(port: int, model: Path) -> Accuracy:
    """RMSE on ``deepfit train``'s test rows of California housing, served and in process."""
    import deepfit
    from deepfit.data.split import train_validation_test_split

    table = pd.read_csv(CALIFORNIA)
    rows = train_validation_test_split(len(table), seed=0).test
    test = table.iloc[rows]
    y = test[TARGET].to_numpy(dtype=np.float64)
    X = test.drop(columns=[TARGET])
    served = []
    for start in range(0, len(X), 1000):
        part = X.iloc[start : start + 1000]
        body = json.dumps(part.astype(object).where(part.notna(), None).to_dict("records"))
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=body.encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            served += json.loads(answer.read())["predictions"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metadata", timeout=10) as answer:
        members = str(json.loads(answer.read()).get("members", "all"))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
        backend = str(json.loads(answer.read()).get("backend", "?"))
    in_process = deepfit.load(model).predict(X)

    def rmse(predicted: Any) -> float:
        return float(np.sqrt(np.mean((np.asarray(predicted, dtype=np.float64) - y) ** 2)))

    return Accuracy(rmse(served), rmse(in_process), members, backend)


def _run(load: Coroutine[Any, Any, LoadResult]) -> LoadResult:
    """Run the load generator on uvloop when it is there: it leaves more CPU to the server.

    What is loaded so far is frozen out of the garbage collector, so the client's own
    collections do not show up as server latency.
    """
    gc.collect()
    gc.freeze()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(load)
    return uvloop.run(load)


def _default_model() -> Path:
    if not DEFAULT_MODEL.exists():
        print(f"training a California-housing model into {DEFAULT_MODEL} ...", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "deepfit.cli",
                "train",
                str(CALIFORNIA),
                "--target",
                TARGET,
                "--out",
                str(DEFAULT_MODEL),
                "--no-baselines",
                "--quiet",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return DEFAULT_MODEL


def _settings(model: Path) -> str:
    """The model's network and time limit, as its file records them."""
    import deepfit

    settings = deepfit.load(model).settings_
    options = settings.get("model_options") or {}
    k = f", k={options['k']}" if "k" in options else ""
    return f"model={settings.get('model')}{k}, time_limit={settings.get('time_limit')}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_healthy(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited: {server.stderr.read().decode() if server.stderr else ''}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.2)
    sys.exit(f"the server did not answer /health within {timeout:.0f} s")


def _bodies(frame: pd.DataFrame, rows: int) -> list[bytes]:
    """Ready-made HTTP requests of ``rows`` records each, drawn from the real rows."""
    rng = np.random.default_rng(rows)
    requests = []
    for _ in range(BODIES_PER_SIZE):
        sample = frame.iloc[rng.integers(0, len(frame), size=rows)]
        records = [
            {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in sample.to_dict(orient="records")
        ]
        body = json.dumps(records).encode()
        head = (
            f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        requests.append(head + body)
    return requests


async def _load(
    port: int, requests: list[bytes], rows: int, clients: int, duration: float
) -> LoadResult:
    result = LoadResult(rows_per_request=rows, clients=clients, seconds=duration)
    start = time.perf_counter()
    measure_from = start + WARM_UP_SECONDS
    stop_at = measure_from + duration

    async def client(number: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = number
        try:
            while (now := time.perf_counter()) < stop_at:
                writer.write(requests[sent % len(requests)])
                sent += 1
                try:
                    status, body = await _response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    result.errors += 1
                    _note(result, f"{type(error).__name__}: {error}")
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                if now < measure_from:
                    continue
                result.latencies.append(time.perf_counter() - now)
                if status != 200:
                    result.errors += 1
                    _note(result, f"HTTP {status}: {body[:200]!r}")
                elif sent % 97 == 0 and len(json.loads(body)["predictions"]) != rows:
                    result.errors += 1
                    _note(result, "wrong number of predictions")
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    result.seconds = time.perf_counter() - measure_from
    return result


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    return status, await reader.readexactly(length)


def _note(result: LoadResult, text: str) -> None:
    if len(result.error_examples) < 5:
        result.error_examples.append(text)


def _report(
    results: list[LoadResult],
    args: argparse.Namespace,
    models: list[Path],
    accuracy: dict[str, Accuracy],
) -> str:
    described = "; ".join(f"{model.name} ({_settings(model)})" for model in models)
    lines = [
        "# Prediction server under load",
        "",
        f"`python benchmarks/serve.py --clients {args.clients} --duration {args.duration:g} "
        f"--workers {args.workers}`: `deepfit serve` with {args.workers} worker process(es) "
        "(one compute thread each, the network in ONNX Runtime), "
        + (
            f"the model(s) {described}, "
            if args.model
            else f"a model trained on California housing with default settings ({described}), "
        )
        + f"{args.clients} concurrent keep-alive clients on 127.0.0.1 (each "
        "sends its next request when the last is answered; asyncio on uvloop), "
        f"{WARM_UP_SECONDS:g} s warm-up, then {args.duration:g} s measured per request size. "
        f"Server and load generator share the machine: {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}.",
        "",
        "| model | drift | rows/request | requests | requests/s | rows/s | p50 ms | p95 ms "
        "| p99 ms | max ms | errors |",
        "|:--|:--|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rate = r.requests / r.seconds
        lines.append(
            f"| {r.model} | {'on' if r.drift else 'off'} | {r.rows_per_request:,} "
            f"| {r.requests:,} "
            f"| {rate:,.0f} | "
            f"{rate * r.rows_per_request:,.0f} | {r.percentile(50):.1f} | {r.percentile(95):.1f} "
            f"| {r.percentile(99):.1f} | {max(r.latencies, default=0) * 1000:.1f} | {r.errors} |"
        )
    if accuracy:
        lines += [
            "",
            "Accuracy as served: test RMSE on `deepfit train`'s test rows of California housing "
            "(3,096 rows, split seed 0), posted to the server, against the model's `predict` "
            "in process (torch, every member).",
            "",
            "| model | members served | backend | served RMSE | in-process RMSE | difference |",
            "|:--|:--|:--|---:|---:|---:|",
        ]
        for name, score in accuracy.items():
            lines.append(
                f"| {name} | {score.members} | {score.backend} | {score.served:,.1f} "
                f"| {score.in_process:,.1f} | {score.served / score.in_process - 1:+.2%} |"
            )
    for r in results:
        for example in r.error_examples:
            lines.append(f"\nerror ({r.rows_per_request} rows): {example}")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
