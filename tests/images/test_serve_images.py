"""The image model's HTTP API: predictions as ImageRegressor.predict makes them, from uploads
or base64 JSON; limits, errors, keys, metadata and metrics."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from deepfit import ImageRegressor
from deepfit.serve.app import ServerSettings, create_app, model_version
from deepfit.serve.forecasting import ForecastGateway
from deepfit.serve.images import create_image_app, parse_image_json
from deepfit.serve.predictor import TooLargeError
from tests.images.conftest import count_images
from tests.support.devices import assert_same_predictions

LIMITS = ServerSettings(max_body_bytes=20_000, max_rows=3)


@pytest.fixture(scope="module")
def pictures() -> np.ndarray:
    """Three count images, uint8 [3, 16, 16]."""
    return count_images(3, seed=9)[0]


@pytest.fixture(scope="module")
def client(image_model: ImageRegressor) -> TestClient:
    return TestClient(create_image_app(image_model, LIMITS, "v1"))


def _files(named: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (name, data, "image/png")) for name, data in named]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _one_line_problem(answer: Any, status: int, fragment: str) -> str:
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert fragment in problem["error"], problem["error"]
    assert "\n" not in problem["error"]
    return str(problem["error"])


def test_uploads_are_answered_as_the_model_predicts_them(
    client: TestClient,
    image_model: ImageRegressor,
    pictures: np.ndarray,
    png_bytes: Callable[..., bytes],
) -> None:
    sent = [("first.png", png_bytes(pictures[0])), ("second.png", png_bytes(pictures[1]))]
    answer = client.post("/predict", files=_files(sent))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [row["file"] for row in body["predictions"]] == ["first.png", "second.png"]
    got = np.array([row["predicted_count"] for row in body["predictions"]])
    assert np.array_equal(got, image_model.predict(pictures[:2]))
    assert (body["target"], body["model_version"], body["interval"]) == ("count", "v1", None)
    assert set(body["predictions"][0]) == {"file", "predicted_count"}


def test_base64_json_as_objects_or_bare_strings_is_answered_the_same(
    client: TestClient,
    image_model: ImageRegressor,
    pictures: np.ndarray,
    png_bytes: Callable[..., bytes],
) -> None:
    encoded = [_b64(png_bytes(pictures[index])) for index in range(3)]
    expected = image_model.predict(pictures)
    named = client.post(
        "/predict",
        json={"images": [{"name": f"{index}.png", "data": data} for index, data in
                         enumerate(encoded)]},
    )  # fmt: skip
    assert named.status_code == 200, named.text
    rows = named.json()["predictions"]
    assert [row["file"] for row in rows] == ["0.png", "1.png", "2.png"]
    assert np.array_equal([row["predicted_count"] for row in rows], expected)
    bare = client.post("/predict", json={"images": encoded}).json()["predictions"]
    assert [row["file"] for row in bare] == ["0", "1", "2"]
    assert np.array_equal([row["predicted_count"] for row in bare], expected)
    unnamed = client.post("/predict", json={"images": [{"data": encoded[0]}]}).json()
    assert unnamed["predictions"][0]["file"] == "0"


def test_an_interval_adds_the_models_bounds(
    client: TestClient,
    image_model: ImageRegressor,
    pictures: np.ndarray,
    png_bytes: Callable[..., bytes],
) -> None:
    sent = [(f"{index}.png", png_bytes(pictures[index])) for index in range(2)]
    answer = client.post("/predict?interval=0.9", files=_files(sent))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["interval"] == 0.9
    expected = image_model.predict_frame(pictures[:2], interval=0.9)
    for row, (_, want) in zip(body["predictions"], expected.iterrows(), strict=True):
        assert set(row) == {"file", "predicted_count", "lower_count", "upper_count"}
        assert row["lower_count"] <= row["predicted_count"] <= row["upper_count"]
        assert row["lower_count"] == pytest.approx(want["lower_count"], rel=1e-12)
        assert row["upper_count"] == pytest.approx(want["upper_count"], rel=1e-12)
    _one_line_problem(
        client.post("/predict?interval=1.5", files=_files(sent)), 422, "query.interval"
    )


def test_an_upload_that_is_no_image_is_a_422_naming_it(
    client: TestClient, pictures: np.ndarray, png_bytes: Callable[..., bytes]
) -> None:
    sent = [("good.png", png_bytes(pictures[0])), ("notes.png", b"just some text")]
    error = _one_line_problem(
        client.post("/predict", files=_files(sent)), 422, "image 'notes.png' is not a readable"
    )
    assert "/" not in error.split(" is not")[0]  # the upload's name, not a server path
    as_json = client.post("/predict", json={"images": [{"name": "x.jpg", "data": _b64(b"xx")}]})
    _one_line_problem(as_json, 422, "image 'x.jpg' is not a readable")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"images": ["!!not base64!!"]}', "images[0] is not valid base64"),
        (b'{"images": []}', "'images' is empty"),
        (b"[1, 2]", "must be a JSON object with a list 'images'"),
        (b'{"images": "aGVsbG8="}', "must be a JSON object with a list 'images'"),
        (b'{"pictures": []}', "must be a JSON object with a list 'images'"),
        (b'{"images": [3]}', "images[0] must be a base64 string or an object with 'data'"),
        (b'{"images": [{"name": "a.png"}]}', "images[0] must be a base64 string or an object"),
        (b'{"images": [', "not valid JSON"),
    ],
)
def test_a_malformed_json_body_is_a_one_line_422(
    client: TestClient, body: bytes, fragment: str
) -> None:
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    _one_line_problem(answer, 422, fragment)
    assert answer.json()["detail"] == []


def test_a_multipart_body_without_files_or_unparseable_is_a_422(client: TestClient) -> None:
    kind = {"content-type": "multipart/form-data; boundary=xyz"}
    fields_only = (
        b'--xyz\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--xyz--\r\n'
    )
    answer = client.post("/predict", content=fields_only, headers=kind)
    _one_line_problem(answer, 422, "the request holds no image files")
    broken = client.post("/predict", content=b"--xyz\r\nno headers here", headers=kind)
    _one_line_problem(broken, 422, "the multipart body cannot be parsed")


def test_a_body_over_the_limit_is_a_413(
    client: TestClient, pictures: np.ndarray, png_bytes: Callable[..., bytes]
) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    big = png_bytes(noise)
    assert len(big) > LIMITS.max_body_bytes
    _one_line_problem(client.post("/predict", files=_files([("big.png", big)])), 413, "limit")
    as_json = client.post("/predict", json={"images": [_b64(big)]})
    _one_line_problem(as_json, 413, "limit is 20000")


def test_more_images_than_max_rows_is_a_413_before_decoding(
    client: TestClient, png_bytes: Callable[..., bytes]
) -> None:
    junk = b"not decoded, so never found bad"
    _one_line_problem(
        client.post("/predict", json={"images": [_b64(junk)] * 4}),
        413,
        "the request has 4 images; send at most 3",
    )
    uploads = _files([(f"{index}.png", junk) for index in range(4)])
    _one_line_problem(client.post("/predict", files=uploads), 413, "send at most 3")
    with pytest.raises(TooLargeError, match="send at most 1"):
        parse_image_json(b'{"images": ["a", "b"]}', 1)


def test_an_api_key_is_required_but_not_for_health(
    image_model: ImageRegressor, pictures: np.ndarray, png_bytes: Callable[..., bytes]
) -> None:
    app = create_image_app(image_model, ServerSettings(api_key="s3cret"), "v1")
    client = TestClient(app)
    body = {"images": [_b64(png_bytes(pictures[0]))]}
    refused = client.post("/predict", json=body)
    assert refused.status_code == 401
    assert client.get("/metadata").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/predict", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
    bearer = {"Authorization": "Bearer s3cret"}
    assert client.post("/predict", json=body, headers=bearer).status_code == 200
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}  # liveness only, no model details


def test_metadata_describes_the_images_and_holds_no_paths(
    image_model: ImageRegressor, tmp_path: Path
) -> None:
    path = image_model.save(tmp_path / "source.deepfit")
    images, counts = count_images(30, seed=6)
    tuned = ImageRegressor(model="cnn", width=4, max_epochs=1, time_limit=None, init_from=path)
    tuned.fit(images, counts)
    assert str(tmp_path) in str(tuned.check_fitted().settings)  # the model knows its source
    client = TestClient(create_image_app(tuned, LIMITS, "v2"))
    answer = client.get("/metadata")
    assert answer.status_code == 200
    assert str(tmp_path) not in answer.text
    metadata = answer.json()
    assert (metadata["kind"], metadata["task"], metadata["target"]) == (
        "image",
        "regression",
        "target",
    )
    assert (metadata["image_size"], metadata["image_mode"], metadata["resize"]) == (16, "L", "pad")
    assert (metadata["model"], metadata["max_images"], metadata["model_version"]) == (
        "cnn",
        3,
        "v2",
    )
    calibration = tuned.check_fitted().summary["validation_images"]
    assert calibration > 0
    assert metadata["intervals"] == {"calibration_images": calibration}
    assert metadata["training"]["epochs"] == 1


def test_metrics_count_requests_and_images(
    image_model: ImageRegressor, pictures: np.ndarray, png_bytes: Callable[..., bytes]
) -> None:
    client = TestClient(create_image_app(image_model, LIMITS, "v1"))
    sent = _files([(f"{index}.png", png_bytes(pictures[index])) for index in range(3)])
    assert client.post("/predict", files=sent).status_code == 200
    assert client.post("/predict", json={"images": []}).status_code == 422
    answer = client.get("/metrics")
    assert answer.status_code == 200
    samples = {
        (sample.name, sample.labels.get("path"), sample.labels.get("status")): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    assert samples[("deepfit_requests_total", "/predict", "200")] == 1
    assert samples[("deepfit_requests_total", "/predict", "422")] == 1
    assert samples[("deepfit_rows_predicted_total", None, None)] == 3


def test_create_app_serves_an_image_model_in_memory_or_from_its_file(
    image_model: ImageRegressor,
    tmp_path: Path,
    pictures: np.ndarray,
    png_bytes: Callable[..., bytes],
) -> None:
    in_memory = create_app(image_model, LIMITS)
    assert isinstance(in_memory, ForecastGateway)
    body = {"images": [_b64(png_bytes(pictures[0]))]}
    answer = TestClient(in_memory).post("/predict", json=body).json()
    assert answer["model_version"] == "in-memory"
    expected = image_model.predict(pictures[:1])[0]
    assert_same_predictions(answer["predictions"][0]["predicted_count"], expected)
    path = image_model.save(tmp_path / "count.deepfit")
    client = TestClient(create_app(path))
    assert client.get("/metadata").json()["kind"] == "image"
    served = client.post("/predict", json=body).json()
    assert served["model_version"] == model_version(path)
    assert_same_predictions(served["predictions"][0]["predicted_count"], expected)
    assert client.get("/openapi.json").status_code == 200
