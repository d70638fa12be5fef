"""The HTTP server of an image model: ``POST /predict`` with images, around one loaded
:class:`ImageRegressor`.

A request carries its images as ``multipart/form-data`` uploads (every file part is one
image, answered under its file name) or as JSON, ``{"images": [{"name": "a.png", "data":
"<base64>"}, ...]}`` (a bare base64 string also works). ``?interval=0.9`` adds conformal
bounds. The body's size is checked before it is parsed and the count of images before any
is decoded; each image's pixel count is checked from its header; decoding and prediction run
in a worker thread, off the event loop.

Example:
    >>> from fastapi.testclient import TestClient
    >>> app = create_image_app(model, ServerSettings(), "in-memory")  # doctest: +SKIP
    >>> TestClient(app).post("/predict", files={"a": ("a.png", png_bytes)}).json()  # doctest: +SKIP
    {'predictions': [{'file': 'a.png', 'predicted_count': 3.02}], ...}
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from deepfit.errors import ConfigError, DataError
from deepfit.estimator.image_regressor import ImageRegressor
from deepfit.kinds.image.decode import Conversions, decode_bytes
from deepfit.kinds.image.source import MemoryImages, OpenedImages
from deepfit.serve.forecasting import ForecastGateway, ServerLimits, late, read_body
from deepfit.serve.gateway import is_json
from deepfit.serve.metrics import ServerMetrics
from deepfit.serve.predictor import TooLargeError, problem
from deepfit.serve.routes import add_query_errors, add_status_routes, public, reply
from deepfit.version import __version__

JSON = "application/json"
PATHS = frozenset({"/predict", "/health", "/metadata", "/metrics", "/docs", "/openapi.json"})
SHAPE = (
    'send multipart/form-data with one file part per image, or JSON {"images": '
    '[{"name": "a.png", "data": "<base64>"}]}'
)
INTERVAL = Query(gt=0, lt=1, description="A coverage level, e.g. 0.9: adds conformal bounds.")


class ImageRequest(BaseModel):
    """The JSON body of ``POST /predict`` (multipart uploads work too)."""

    images: list[dict[str, str] | str] = Field(
        description="Each image as {'name': ..., 'data': base64 of the file} or a base64 string."
    )


class ImagePredictions(BaseModel):
    """The answer of ``POST /predict``: one row per image, in the order sent."""

    predictions: list[dict[str, Any]]
    target: str
    model_version: str
    interval: float | None = None


def create_image_app(
    model: ImageRegressor, settings: ServerLimits, version: str
) -> ForecastGateway:
    """An ASGI app predicting with ``model``: ``POST /predict``, ``GET /health``,
    ``/metadata``, ``/metrics`` and ``/docs``, behind the API-key gateway."""
    fit = model.check_fitted()
    target = fit.preparer.target_name
    metrics = ServerMetrics(model_version=version, target=target, deepfit_version=__version__)
    app = FastAPI(
        telemetry={"tracing": False, "metrics": False, "logs": False},  # we export Prometheus
        title=f"deepfit: predict {target} from images",
        version=__version__,
        description=f"Predicts '{target}' from images ({SHAPE}).",
    )

    add_query_errors(app)

    _routes(app, model, settings, version, metrics)
    return ForecastGateway(
        app,
        metrics=metrics,
        api_key=settings.api_key,
        paths=PATHS,
        allowed_hosts=settings.allowed_hosts,
    )


def _routes(
    app: FastAPI,
    model: ImageRegressor,
    settings: ServerLimits,
    version: str,
    metrics: ServerMetrics,
) -> None:
    metadata = orjson.dumps(image_metadata(model, version, settings.max_rows))
    body = {
        "required": True,
        "content": {
            JSON: {"schema": ImageRequest.model_json_schema()},
            "multipart/form-data": {"schema": {"type": "object"}},
        },
    }

    @app.post("/predict", response_model=ImagePredictions, openapi_extra={"requestBody": body})
    async def predict(
        request: Request, interval: Annotated[float | None, INTERVAL] = None
    ) -> Response:
        """Predict from each image sent (413: too large; 422: invalid)."""
        kind = request.headers.get("content-type", "")
        multipart = kind.startswith("multipart/form-data")
        if kind and not (multipart or is_json(kind.encode("latin-1"))):
            return reply(*problem(415, f"the Content-Type {kind[:60]!r} is not accepted; {SHAPE}"))
        try:
            raw = await read_body(request, settings.max_body_bytes, settings.request_timeout)
            if multipart:
                uploads = await _form_images(request, raw, settings.max_rows)
            else:
                uploads = parse_image_json(raw, settings.max_rows)
            answer = await run_in_threadpool(image_answer, model, uploads, interval)
        except TooLargeError as error:
            return reply(*problem(413, str(error)))
        except TimeoutError:
            return late(settings.request_timeout)
        except ClientDisconnect:  # gone before the whole body came: no work for nobody
            return Response(status_code=499)
        except (DataError, ConfigError) as error:
            return reply(*problem(422, str(error)))
        metrics.rows.inc(len(answer["predictions"]))
        return reply(200, orjson.dumps(answer | {"model_version": version}))

    add_status_routes(app, version=version, metadata=metadata, metrics=metrics)


async def _form_images(request: Request, raw: bytes, max_images: int) -> list[tuple[str, bytes]]:
    """The file parts of a multipart body already read (and size-checked) as ``raw``."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(
            max_files=max_images, max_fields=max_images
        )
    except Exception as error:  # starlette's parser raises its own errors for a bad body
        if "Too many" in str(error):
            raise TooLargeError(
                f"the request has too many parts; send at most {max_images}"
            ) from None
        raise DataError(f"the multipart body cannot be parsed; {SHAPE}") from error
    uploads = []
    for key, value in form.multi_items():
        if isinstance(value, str):
            continue
        uploads.append((value.filename or key, await value.read()))
    await form.close()
    if not uploads:
        raise DataError(f"the request holds no image files; {SHAPE}")
    return uploads


def parse_image_json(body: bytes, max_images: int) -> list[tuple[str, bytes]]:
    """(name, bytes) of each image of a JSON body; a :class:`DataError` for a wrong shape,
    a :class:`TooLargeError` for more than ``max_images``.

    Example:
        >>> parse_image_json(b'{"images": [{"name": "a.png", "data": "iVBO"}]}', 4)
        [('a.png', b'\\x89PN')]
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DataError(f"the body is not valid JSON; {SHAPE}") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise DataError(f"the body must be a JSON object with a list 'images'; {SHAPE}")
    images = document["images"]
    if len(images) > max_images:
        raise TooLargeError(f"the request has {len(images)} images; send at most {max_images}")
    if not images:
        raise DataError(f"'images' is empty; {SHAPE}")
    uploads = []
    for index, item in enumerate(images):
        name, data = (str(index), item) if isinstance(item, str) else _named(item, index)
        try:
            uploads.append((name, base64.b64decode(data, validate=True)))
        except (binascii.Error, ValueError):
            raise DataError(f"images[{index}] is not valid base64; {SHAPE}") from None
    return uploads


def _named(item: Any, index: int) -> tuple[str, str]:
    if not isinstance(item, dict) or not isinstance(item.get("data"), str):
        raise DataError(f"images[{index}] must be a base64 string or an object with 'data'")
    name = item.get("name", str(index))
    return (name if isinstance(name, str) else str(index))[:200], item["data"]


def image_answer(
    model: ImageRegressor, uploads: list[tuple[str, bytes]], interval: float | None
) -> dict[str, Any]:
    """The answer to parsed images (CPU-bound: run it in a worker thread)."""
    prep = model.check_fitted().preparer
    decoded = np.stack(
        [
            decode_bytes(data, name, mode=prep.mode, size=prep.size, resize=prep.resize)
            for name, data in uploads
        ]
    )
    opened = OpenedImages(
        MemoryImages(decoded),
        np.arange(len(decoded)),
        Conversions(),
        True,
        [name for name, _ in uploads],
    )
    frame = model.frame_of(opened, interval=interval)
    return {
        "predictions": frame.to_dict(orient="records"),
        "target": prep.target_name,
        "interval": interval,
    }


def image_metadata(model: ImageRegressor, version: str, max_images: int) -> dict[str, Any]:
    """What ``GET /metadata`` answers (no file paths)."""
    fit = model.check_fitted()
    prep = fit.preparer
    return {
        "task": "regression",
        "kind": "image",
        "target": prep.target_name,
        "image_size": prep.size,
        "image_mode": prep.mode,
        "resize": prep.resize,
        "model": fit.settings.get("model"),
        "intervals": None
        if fit.conformal is None
        else {"calibration_images": fit.conformal.n_rows},
        "max_images": max_images,
        "training": public(
            {k: v for k, v in fit.summary.items() if k != "seconds_per_epoch_estimates"}
        ),
        "model_version": version,
        "deepfit_version": __version__,
    }
