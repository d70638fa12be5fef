"""The HTTP prediction server: a FastAPI app built around one loaded model.

Example:
    >>> from fastapi.testclient import TestClient
    >>> client = TestClient(create_app("price.deepfit"))  # doctest: +SKIP
    >>> client.post("/predict", json=[{"carat": 0.3, "cut": "Ideal"}]).json()  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import torch
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from deepfit.errors import DataError
from deepfit.estimator import Regressor
from deepfit.serve.engine import Backend, InferenceEngine
from deepfit.serve.features import FeatureSchema
from deepfit.serve.metrics import ASGIApp, Gatekeeper, ServerMetrics

DEFAULT_MAX_BODY_BYTES = 32 * 2**20
DEFAULT_MAX_ROWS = 100_000
MAX_ERRORS_SHOWN = 20
JSON = "application/json"


@dataclass(frozen=True)
class ServerSettings:
    """Limits and access control of one server."""

    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    backend: Backend = "onnx"
    threads: int = 1


class Prediction(BaseModel):
    """The answer of ``POST /predict``."""

    predictions: list[float | None] = Field(description="One value per row, in the target's units.")
    target: str
    model_version: str = Field(description="The first 16 hex digits of the model file's SHA-256.")
    unseen_categories: int = Field(description="Values not seen in training (used 'unknown').")
    missing_values: int = Field(description="Values sent as null (imputed).")


class Problem(BaseModel):
    """An error answer: one line saying what is wrong, and the details."""

    error: str
    detail: list[dict[str, Any]] = []


class TooLargeError(Exception):
    """The request is bigger than the server accepts."""


def model_version(path: Path) -> str:
    """A short, stable identity of a model file: the start of its SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def create_app(
    model: str | Path | Regressor,
    settings: ServerSettings | None = None,
    *,
    version: str | None = None,
) -> FastAPI:
    """An app serving ``model`` (a ``.deepfit`` path or a fitted Regressor), loaded once here."""
    from deepfit import __version__
    from deepfit.artifact import load

    settings = settings or ServerSettings()
    if isinstance(model, Regressor):
        regressor, version = model, version or "in-memory"
    else:
        regressor, version = load(model), version or model_version(Path(model))
    regressor._check_fitted()
    engine = InferenceEngine(regressor.network_, backend=settings.backend, threads=settings.threads)
    schema = FeatureSchema(regressor.preprocessor_)
    target = regressor.target_name_
    metrics = ServerMetrics(model_version=version, target=target, deepfit_version=__version__)
    started = time.time()

    app = FastAPI(
        title=f"deepfit: predict {target}",
        version=__version__,
        description=(
            f"Predicts '{target}' from {len(schema.features)} features. Send a JSON list of "
            "records (one object per row, one field per feature) or one object of columns "
            "(one list per feature). Every feature must be present; null marks a missing value."
        ),
    )
    metadata = _metadata(regressor, schema, version, __version__)

    @app.post(
        "/predict",
        response_model=Prediction,
        responses={413: {"model": Problem}, 422: {"model": Problem}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
            }
        },
    )
    async def predict(request: Request) -> Response:
        """Predict the target for a batch of rows."""
        try:
            body = await _read_body(request, settings.max_body_bytes)
            columns = schema.parse(body)
            n_rows = len(next(iter(columns.values()), []))
            if n_rows > settings.max_rows:
                raise TooLargeError(
                    f"the request has {n_rows} rows; send at most {settings.max_rows} per request"
                )
            batch = schema.encode(columns)
        except TooLargeError as error:
            return _problem(413, str(error))
        except ValidationError as error:
            return _invalid(error, schema.names)
        except DataError as error:
            return _problem(422, str(error))
        values = engine.predict(batch.features.numeric, batch.features.categorical).tolist()
        metrics.rows.inc(n_rows)
        if batch.features.unseen_categories:
            metrics.unseen.inc(batch.features.unseen_categories)
        if batch.missing_values:
            metrics.missing.inc(batch.missing_values)
        answer = {
            "predictions": values,
            "target": target,
            "model_version": version,
            "unseen_categories": batch.features.unseen_categories,
            "missing_values": batch.missing_values,
        }
        return Response(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), media_type=JSON)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness and readiness: the model is loaded and answering."""
        return {
            "status": "ok",
            "model_version": version,
            "backend": engine.backend,
            "uptime_seconds": round(time.time() - started, 3),
        }

    @app.get("/metadata")
    async def get_metadata() -> dict[str, Any]:
        """The feature schema, the target, training-time metrics and versions."""
        return metadata

    @app.get("/metrics", response_class=Response)
    async def get_metrics() -> Response:
        """Request counts, latencies, rows predicted, unseen categories, missing values."""
        content, content_type = metrics.exposition()
        return Response(content, media_type=content_type)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            request_schema = schema.body_adapter.json_schema(
                ref_template="#/components/schemas/{model}"
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(request_schema.pop("$defs", {}))
            components["PredictRequest"] = request_schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(_GatekeeperFactory, metrics=metrics, api_key=settings.api_key)
    return app


class _GatekeeperFactory(Gatekeeper):
    """Starlette builds middleware from a class and keyword arguments."""

    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics, api_key: str | None) -> None:
        super().__init__(app, metrics, api_key)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"the body has {int(declared)} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _problem(status: int, message: str, detail: list[dict[str, Any]] | None = None) -> Response:
    return Response(
        orjson.dumps({"error": message, "detail": detail or []}),
        status_code=status,
        media_type=JSON,
    )


def _invalid(error: ValidationError, names: list[str]) -> Response:
    details: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for item in error.errors(include_url=False, include_context=False):
        where = _place(item["loc"], names)
        if where in seen:  # a union reports one error per member type: keep the first
            continue
        seen.add(where)
        details.append(
            {
                "loc": list(where),
                "msg": _message(item, where),
                "type": item["type"],
            }
        )
        if len(details) >= MAX_ERRORS_SHOWN:
            break
    first = details[0]["msg"] if details else "the body is not a valid prediction request"
    more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
    return _problem(422, first + more, details)


def _place(loc: tuple[int | str, ...], names: list[str]) -> tuple[int | str, ...]:
    """The row number and feature name of an error's location, without union member tags."""
    row = next((part for part in loc if isinstance(part, int)), None)
    feature = next((part for part in loc if isinstance(part, str) and part in names), None)
    return tuple(part for part in (feature, row) if part is not None)


def _message(item: Any, where: tuple[int | str, ...]) -> str:
    feature = next((part for part in where if isinstance(part, str)), None)
    row = next((part for part in where if isinstance(part, int)), None)
    place = f"feature '{feature}'" if feature is not None else "the body"
    if row is not None:
        place += f" in row {row}"
    kind = item["type"]
    if kind == "json_invalid":
        return "the body is not valid JSON; send a list of records or an object of columns"
    if kind == "missing":
        return f"{place} is missing; send every feature (null for a missing value)"
    if kind in ("finite_number",):
        return f"{place} is not a finite number; NaN and infinity are not allowed, send null"
    if feature is None:
        return (
            "the body must be a JSON list of records (one object per row) or an object of "
            f"columns (one list per feature); {item['msg'].lower()}"
        )
    shown = repr(item.get("input"))[:60]
    return f"{place}: {item['msg'].lower()}, got {shown}"


def _metadata(
    regressor: Regressor, schema: FeatureSchema, version: str, deepfit_version: str
) -> dict[str, Any]:
    stored = getattr(regressor, "metadata_", {})
    return {
        "target": regressor.target_name_,
        "features": [feature.describe() for feature in schema.features],
        "model_version": version,
        "deepfit_version": deepfit_version,
        "trained_with_deepfit": stored.get("deepfit_version"),
        "created_at": stored.get("created_at"),
        "training": regressor.training_summary_,
        "metrics": getattr(regressor, "metrics_", None),
    }


def app_from_environment() -> FastAPI:
    """The app for uvicorn's worker processes, configured by ``deepfit serve``."""
    threads = int(os.environ.get("DEEPFIT_SERVE_THREADS", "1"))
    torch.set_num_threads(threads)
    backend = os.environ.get("DEEPFIT_SERVE_BACKEND", "onnx")
    key_variable = os.environ.get("DEEPFIT_SERVE_API_KEY_ENV")
    return create_app(
        os.environ["DEEPFIT_SERVE_MODEL"],
        ServerSettings(
            api_key=os.environ.get(key_variable) if key_variable else None,
            max_body_bytes=int(os.environ.get("DEEPFIT_SERVE_MAX_BODY_BYTES", "0"))
            or DEFAULT_MAX_BODY_BYTES,
            max_rows=int(os.environ.get("DEEPFIT_SERVE_MAX_ROWS", "0")) or DEFAULT_MAX_ROWS,
            backend="torch" if backend == "torch" else "onnx",
            threads=threads,
        ),
    )
