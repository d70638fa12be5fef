"""The HTTP prediction server: a FastAPI app built around one loaded model.

A forecaster is served by :mod:`deepfit.serve.forecasting` (``POST /forecast``) instead.

Example:
    >>> from fastapi.testclient import TestClient
    >>> client = TestClient(create_app("price.deepfit"))  # doctest: +SKIP
    >>> client.post("/predict", json=[{"carat": 0.3, "cut": "Ideal"}]).json()  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
import torch
from fastapi import FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel, Field

from deepfit.estimator import Estimator
from deepfit.estimator.forecaster import Forecaster
from deepfit.estimator.image_regressor import ImageRegressor
from deepfit.serve.batching import MicroBatcher
from deepfit.serve.drift import DriftTracker, tracker_for
from deepfit.serve.engine import Backend, InferenceEngine, served_network
from deepfit.serve.features import FeatureSchema
from deepfit.serve.forecasting import ForecastGateway, create_forecast_app
from deepfit.serve.gateway import Gateway
from deepfit.serve.metrics import ServerMetrics
from deepfit.serve.predictor import Predictor
from deepfit.serve.routes import public, reply

DEFAULT_MAX_BODY_BYTES = 32 * 2**20
DEFAULT_MAX_ROWS = 100_000
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 1024
JSON = "application/json"


@dataclass(frozen=True)
class ServerSettings:
    """Limits and access control of one server."""

    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    backend: Backend = "onnx"
    threads: int = 1
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # seconds to receive a whole body
    allowed_hosts: tuple[str, ...] | None = None  # Host header names accepted; None: any
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # per worker; more get 503 (uvicorn)
    drift: bool = True  # count the served rows' drift from the training data (GET /drift)
    all_members: bool = False  # run every TabM member, not those chosen at training


class Prediction(BaseModel):
    """The answer of ``POST /predict``."""

    predictions: list[Any] = Field(
        description="One per row: the value in the target's units, or the predicted label."
    )
    classes: list[Any] | None = Field(
        default=None, description="Classification: the labels, in the probabilities' order."
    )
    probabilities: list[list[float]] | None = Field(
        default=None, description="Classification: each row's calibrated class probabilities."
    )
    target: str
    model_version: str = Field(description="The first 16 hex digits of the model file's SHA-256.")
    unseen_categories: int = Field(description="Values not seen in training (used 'unknown').")
    missing_values: int = Field(description="Values sent as null (imputed).")
    interval: float | None = Field(
        default=None, description="The coverage level asked for (only with ?interval=)."
    )
    lower: list[float | None] | None = Field(
        default=None, description="Regression: lower bound per row (only with ?interval=)."
    )
    upper: list[float | None] | None = Field(
        default=None, description="Regression: upper bound per row (only with ?interval=)."
    )
    sets: list[list[Any]] | None = Field(
        default=None,
        description="Classification: each row's conformal set of labels (only with ?interval=).",
    )


class Problem(BaseModel):
    """An error answer: one line saying what is wrong, and the details."""

    error: str
    detail: list[dict[str, Any]] = []


def model_version(path: Path) -> str:
    """A short, stable identity of a model file: the start of its SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def create_app(
    model: str | Path | Estimator | Forecaster | ImageRegressor,
    settings: ServerSettings | None = None,
    *,
    version: str | None = None,
) -> Gateway | ForecastGateway:
    """An ASGI app serving ``model`` (a ``.deepfit`` path or a fitted estimator), loaded once.

    The :class:`Gateway` in front answers ``POST /predict`` and checks keys; the FastAPI app
    behind it (``.app``) serves the rest and the OpenAPI documentation. A forecaster gets
    :func:`~deepfit.serve.forecasting.create_forecast_app`'s app (``POST /forecast``).
    """
    from deepfit.estimator import load
    from deepfit.version import __version__

    settings = settings or ServerSettings()
    fitted: Estimator | Forecaster | ImageRegressor
    if isinstance(model, Estimator | Forecaster | ImageRegressor):
        fitted, version = model, version or "in-memory"
    else:
        fitted, version = load(model), version or model_version(Path(model))
    if isinstance(fitted, Forecaster):
        return create_forecast_app(fitted, settings, version)
    if isinstance(fitted, ImageRegressor):
        from deepfit.serve.images import create_image_app

        return create_image_app(fitted, settings, version)
    fitted.check_fitted()
    network, members = served_network(
        fitted.network_,
        fitted.training_summary_,
        all_members=settings.all_members,
        served=getattr(fitted, "served_network_", None),
    )
    engine = InferenceEngine(network, backend=settings.backend, threads=settings.threads)
    schema = FeatureSchema(fitted.preprocessor_)
    target = fitted.target_name_
    metrics = ServerMetrics(model_version=version, target=target, deepfit_version=__version__)
    drift = tracker_for(fitted, schema) if settings.drift else None
    predictor = Predictor(
        schema,
        MicroBatcher(engine),
        metrics,
        target,
        version,
        settings.max_rows,
        fitted,
        drift=drift,
    )
    app = FastAPI(
        telemetry={"tracing": False, "metrics": False, "logs": False},  # we export Prometheus
        title=f"deepfit: predict {target}",
        version=__version__,
        description=(
            f"Predicts '{target}' ({fitted.task_.name}) from {len(schema.features)} features. "
            "Send a JSON list of records (one object per row, one field per feature) or one "
            "object of columns (one list per feature). Every feature must be present; null "
            "marks a missing value."
        ),
    )
    metadata = {**_metadata(fitted, schema, version, __version__), "members": str(members)}
    _routes(app, predictor, engine, metrics, metadata)
    _drift_route(app, drift)
    app.openapi = _openapi(app, schema)  # type: ignore[method-assign]
    return Gateway(
        app,
        metrics=metrics,
        predictor=predictor,
        members=members,
        api_key=settings.api_key,
        max_body_bytes=settings.max_body_bytes,
        request_timeout=settings.request_timeout,
        allowed_hosts=settings.allowed_hosts,
    )


def _routes(
    app: FastAPI,
    predictor: Predictor,
    engine: InferenceEngine,
    metrics: ServerMetrics,
    metadata: dict[str, Any],
) -> None:
    """``POST /predict`` (documented; the gateway answers it), health, metadata, metrics."""
    started = time.time()

    @app.post(
        "/predict",
        response_model=Prediction,
        responses={status: {"model": Problem} for status in (400, 401, 408, 413, 415, 422)},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
            }
        },
    )
    async def predict(
        request: Request,
        interval: Annotated[
            float | None,
            Query(
                gt=0,
                lt=1,
                description=(
                    "A coverage level, e.g. 0.9: a regression's answer adds 'lower' and "
                    "'upper', split-conformal bounds that hold the target of that share of new "
                    "rows; a classifier's adds 'sets', conformal sets of labels that hold the "
                    "true label of that share. 422 if the model has no calibration (see "
                    "/metadata) or the level is above its max_level."
                ),
            ),
        ] = None,
    ) -> Response:
        """Predict the target for a batch of rows (answered by the gateway's fast path)."""
        query = request.scope.get("query_string", b"")  # only without the gateway
        status, content = await predictor.answer(await request.body(), query)
        return Response(content, status_code=status, media_type=JSON)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness and readiness: the model is loaded and answering."""
        return {
            "status": "ok",
            "model_version": predictor.version,
            "backend": engine.backend,
            "uptime_seconds": round(time.time() - started, 3),
        }

    @app.get("/metadata")
    async def get_metadata() -> dict[str, Any]:
        """The task, the feature schema, the target, training-time metrics and versions."""
        return metadata

    @app.get("/metrics", response_class=Response)
    async def get_metrics() -> Response:
        """Request counts, latencies, rows predicted, unseen categories, missing values."""
        content, content_type = metrics.exposition()
        if predictor.drift is not None:
            content += ("\n".join(predictor.drift.gauge_lines()) + "\n").encode()
        return Response(content, media_type=content_type)


NO_REFERENCE = (
    "this model file keeps no reference of its training data (it was saved by an older "
    "deepfit, or the server runs with drift tracking off); retrain it with this version "
    "(deepfit retrain) to track drift"
)


def _drift_route(app: FastAPI, drift: DriftTracker | None) -> None:
    """``GET /drift``: the served rows' drift from the training data, worst feature first."""

    @app.get("/drift", responses={404: {"model": Problem}})
    async def get_drift() -> Response:
        """Each feature's drift (population stability index) over the latest served rows,
        worst first, with a threshold and a one-line reading, and the predictions' drift."""
        if drift is None:
            return reply(404, orjson.dumps({"error": NO_REFERENCE, "detail": []}))
        return reply(200, orjson.dumps(drift.report()))


def _openapi(app: FastAPI, schema: FeatureSchema) -> Callable[[], dict[str, Any]]:
    """The app's OpenAPI document, with the request body's schema from the model's features."""

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

    return openapi


def _metadata(
    model: Estimator, schema: FeatureSchema, version: str, deepfit_version: str
) -> dict[str, Any]:
    stored = getattr(model, "metadata_", {})
    return {
        "task": model.task_.name,
        "target": model.target_name_,
        "target_encoding": model.task_.to_dict(),
        "features": [feature.describe() for feature in schema.features],
        "model_version": version,
        "deepfit_version": deepfit_version,
        "trained_with_deepfit": stored.get("deepfit_version"),
        "created_at": stored.get("created_at"),
        "training": public(model.training_summary_),
        "metrics": getattr(model, "metrics_", None),
        "intervals": _intervals(model),
    }


def _intervals(model: Estimator) -> dict[str, Any] | None:
    """What ``?interval=`` can give: the calibration's method, rows and highest level."""
    calibration = getattr(model, "calibration_", None)
    if calibration is None:
        return None
    return {
        "method": calibration.method,
        "calibration_rows": calibration.n_rows,
        "max_level": calibration.max_level,
    }


def app_from_environment() -> Gateway | ForecastGateway:
    """The app for uvicorn's worker processes, configured by ``deepfit serve``."""
    threads = int(os.environ.get("DEEPFIT_SERVE_THREADS", "1"))
    torch.set_num_threads(threads)
    backend = os.environ.get("DEEPFIT_SERVE_BACKEND", "onnx")
    key_variable = os.environ.get("DEEPFIT_SERVE_API_KEY_ENV")
    app = create_app(
        os.environ["DEEPFIT_SERVE_MODEL"],
        ServerSettings(
            api_key=os.environ.get(key_variable) if key_variable else None,
            max_body_bytes=int(os.environ.get("DEEPFIT_SERVE_MAX_BODY_BYTES", "0"))
            or DEFAULT_MAX_BODY_BYTES,
            max_rows=int(os.environ.get("DEEPFIT_SERVE_MAX_ROWS", "0")) or DEFAULT_MAX_ROWS,
            backend="torch" if backend == "torch" else "onnx",
            threads=threads,
            request_timeout=float(os.environ.get("DEEPFIT_SERVE_REQUEST_TIMEOUT", "0"))
            or DEFAULT_REQUEST_TIMEOUT,
            allowed_hosts=_hosts_from_environment(),
            drift=os.environ.get("DEEPFIT_SERVE_DRIFT", "1") == "1",
            all_members=os.environ.get("DEEPFIT_SERVE_ALL_MEMBERS", "0") == "1",
        ),
    )
    settle()
    return app


def _hosts_from_environment() -> tuple[str, ...] | None:
    """``DEEPFIT_SERVE_ALLOWED_HOSTS``: comma-separated names; unset: any Host."""
    names = os.environ.get("DEEPFIT_SERVE_ALLOWED_HOSTS")
    return None if names is None else tuple(name for name in names.split(",") if name)


def settle() -> None:
    """Move everything loaded so far out of the garbage collector's sight.

    torch, pandas, FastAPI and the model leave about 200,000 long-lived objects; a full
    collection walks them all (about 100 ms on our 2-core machine), and a request waits
    through it. Frozen, they are skipped.
    """
    gc.collect()
    gc.freeze()
