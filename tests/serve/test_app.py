"""The HTTP API: predictions, errors that name the field, limits, metadata, metrics, keys."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from deepfit import Regressor
from deepfit.serve import ServerSettings, create_app
from deepfit.serve.app import model_version
from tests.support.tables import TABLE_ROLES, make_table

FEATURES = ["x1", "x2", "colour", "flag", "day"]


def _rows(n: int = 5, seed: int = 1) -> list[dict]:
    frame = make_table(n, seed=seed).drop(columns="y")
    return json.loads(frame.to_json(orient="records"))


def _metric(client: TestClient, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_predictions_match_the_model(client: TestClient, fitted: Regressor) -> None:
    rows = _rows(20)
    answer = client.post("/predict", json=rows)
    assert answer.status_code == 200
    body = answer.json()
    expected = fitted.predict(make_table(20, seed=1).drop(columns="y"))
    # float32 graph vs float32 torch: equal up to rounding, relative to the target's scale
    np.testing.assert_allclose(body["predictions"], expected, atol=1e-6 * np.abs(expected).max())
    assert body["target"] == "y"
    assert body["unseen_categories"] == 0


def test_columns_give_the_same_answer_as_records(client: TestClient) -> None:
    rows = _rows(7)
    columns = {name: [row[name] for row in rows] for name in FEATURES}
    by_rows = client.post("/predict", json=rows).json()["predictions"]
    by_columns = client.post("/predict", json=columns).json()["predictions"]
    assert by_rows == by_columns


def test_torch_backend_is_bit_identical(fitted: Regressor) -> None:
    client = TestClient(create_app(fitted, ServerSettings(backend="torch")))
    assert client.get("/health").json()["backend"] == "torch"
    predictions = client.post("/predict", json=_rows(9)).json()["predictions"]
    assert predictions == fitted.predict(make_table(9, seed=1).drop(columns="y")).tolist()


def test_the_default_backend_is_onnx_runtime(client: TestClient) -> None:
    assert client.get("/health").json()["backend"] == "onnx"


def test_unseen_and_missing_values_are_answered_and_counted(client: TestClient) -> None:
    before_unseen = _metric(client, "deepfit_unseen_categories_total")
    before_missing = _metric(client, "deepfit_missing_values_total")
    row = _rows(1)[0] | {"colour": "ultraviolet", "x1": None}
    answer = client.post("/predict", json=[row, row])
    assert answer.status_code == 200
    assert answer.json()["unseen_categories"] == 2
    assert answer.json()["missing_values"] == 2
    assert _metric(client, "deepfit_unseen_categories_total") == before_unseen + 2
    assert _metric(client, "deepfit_missing_values_total") == before_missing + 2


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"x1": "abc"}, "x1", "valid number"),
        ({"flag": "perhaps"}, "flag", "valid boolean"),
        ({"day": "not a date"}, "day", "datetime"),
        ({"colour": ["red"]}, "colour", "colour"),
    ],
)
def test_a_bad_value_is_422_naming_the_field(
    client: TestClient, change: dict, field: str, words: str
) -> None:
    rows = _rows(3)
    rows[2] |= change
    answer = client.post("/predict", json=rows)
    assert answer.status_code == 422
    body = answer.json()
    assert f"feature '{field}' in row 2" in body["error"]
    assert words in body["error"]
    assert body["detail"][0]["loc"] == [field, 2]


def test_a_missing_feature_is_422(client: TestClient) -> None:
    row = _rows(1)[0]
    del row["x2"]
    answer = client.post("/predict", json=[row])
    assert answer.status_code == 422
    assert "feature 'x2' in row 0 is missing" in answer.json()["error"]


def test_nan_is_422(client: TestClient) -> None:
    body = json.dumps([_rows(1)[0] | {"x1": float("nan")}]).encode()  # Python writes NaN
    answer = client.post("/predict", content=body)
    assert answer.status_code == 422
    assert "not a finite number" in answer.json()["error"]


@pytest.mark.parametrize("body", [b"", b"{", b"null", b'"rows"', b"[[1, 2]]", b"\xff\xfe"])
def test_malformed_bodies_are_422(client: TestClient, body: bytes) -> None:
    answer = client.post("/predict", content=body)
    assert answer.status_code == 422
    assert answer.json()["error"]


def test_an_empty_batch_gives_no_predictions(client: TestClient) -> None:
    answer = client.post("/predict", json=[])
    assert answer.status_code == 200
    assert answer.json()["predictions"] == []


def test_oversized_bodies_and_batches_are_413(client: TestClient) -> None:
    big = json.dumps(_rows(1) * 3000).encode()
    assert len(big) > 200_000
    assert client.post("/predict", content=big).status_code == 413

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(100):
            yield b" " * 4096

    assert client.post("/predict", content=chunks()).status_code == 413
    many = client.post("/predict", json=_rows(1) * 501)
    assert many.status_code == 413
    assert "at most 500" in many.json()["error"]


def test_metadata_describes_the_features(client: TestClient) -> None:
    metadata = client.get("/metadata").json()
    assert metadata["target"] == "y"
    roles = {feature["name"]: feature["role"] for feature in metadata["features"]}
    assert roles == TABLE_ROLES
    colour = next(f for f in metadata["features"] if f["name"] == "colour")
    assert colour["categories"] == ["blue", "green", "red"]
    assert metadata["deepfit_version"]


def test_openapi_uses_the_models_own_fields(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    record = schemas["Record"]
    assert sorted(record["required"]) == sorted(FEATURES)
    assert {"type": "number"} in record["properties"]["x1"]["anyOf"]
    assert {"type": "boolean"} in record["properties"]["flag"]["anyOf"]
    assert "PredictRequest" in schemas


def test_metrics_count_requests_by_status_and_rows(client: TestClient) -> None:
    before_ok = _metric(client, "deepfit_requests_total", path="/predict", status="200")
    before_bad = _metric(client, "deepfit_requests_total", path="/predict", status="422")
    before_rows = _metric(client, "deepfit_rows_predicted_total")
    client.post("/predict", json=_rows(4))
    client.post("/predict", content=b"{")
    assert _metric(client, "deepfit_requests_total", path="/predict", status="200") == before_ok + 1
    assert (
        _metric(client, "deepfit_requests_total", path="/predict", status="422") == before_bad + 1
    )
    assert _metric(client, "deepfit_rows_predicted_total") == before_rows + 4
    assert _metric(client, "deepfit_request_duration_seconds_count", path="/predict") > 0


def test_an_api_key_is_required_when_set(fitted: Regressor) -> None:
    client = TestClient(create_app(fitted, ServerSettings(api_key="s3cret")))
    assert client.get("/metadata").status_code == 401
    assert client.post("/predict", json=_rows(1)).status_code == 401
    assert client.get("/metadata", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/metadata", headers={"X-API-Key": "s3cret"}).status_code == 200
    bearer = {"Authorization": "Bearer s3cret"}
    assert client.post("/predict", json=_rows(1), headers=bearer).status_code == 200


def test_a_saved_model_is_served_with_its_file_hash(tmp_path: Path, fitted: Regressor) -> None:
    path = fitted.save(tmp_path / "m.deepfit")
    client = TestClient(create_app(path))
    version = client.get("/health").json()["model_version"]
    assert version == model_version(path)
    assert len(version) == 16
    assert client.post("/predict", json=_rows(2)).json()["model_version"] == version


# ------------------------------------------------------------------ prediction intervals
def test_an_interval_adds_lower_and_upper(client: TestClient, fitted: Regressor) -> None:
    answer = client.post("/predict?interval=0.9", json=_rows(6))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["interval"] == 0.9
    expected = fitted.predict(make_table(6, seed=1).drop(columns="y"), interval=0.9)
    scale = 1e-6 * np.abs(expected.prediction).max()
    np.testing.assert_allclose(body["lower"], expected.lower, atol=scale)
    np.testing.assert_allclose(body["upper"], expected.upper, atol=scale)
    half = np.subtract(body["upper"], body["predictions"])
    np.testing.assert_allclose(half, fitted.calibration_.quantile(0.9), rtol=1e-9)
    plain = client.post("/predict", json=_rows(6)).json()
    assert plain["predictions"] == body["predictions"]
    assert "lower" not in plain
    assert "interval" not in plain


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("interval=1.5", "between 0 and 1"),
        ("interval=0", "between 0 and 1"),
        ("interval=abc", "between 0 and 1"),
        ("interval=nan", "between 0 and 1"),
        ("interval=", "between 0 and 1"),
        ("interval=0.999", "calibration rows"),
    ],
)
def test_a_bad_interval_is_422(client: TestClient, query: str, words: str) -> None:
    answer = client.post(f"/predict?{query}", json=_rows(2))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert words in error
    assert "\n" not in error


def test_a_model_without_calibration_refuses_intervals(fitted: Regressor) -> None:
    uncalibrated = copy.deepcopy(fitted)
    uncalibrated.calibration_ = None
    client = TestClient(create_app(uncalibrated))
    answer = client.post("/predict?interval=0.9", json=_rows(2))
    assert answer.status_code == 422
    assert "no prediction intervals" in answer.json()["error"]
    assert client.post("/predict", json=_rows(2)).status_code == 200
    assert client.get("/metadata").json()["intervals"] is None


def test_the_interval_parameter_is_documented(client: TestClient, fitted: Regressor) -> None:
    document = client.get("/openapi.json").json()
    parameters = document["paths"]["/predict"]["post"]["parameters"]
    interval = next(p for p in parameters if p["name"] == "interval")
    assert interval["in"] == "query"
    assert not interval.get("required", False)
    assert {"lower", "upper", "interval"} <= set(
        document["components"]["schemas"]["Prediction"]["properties"]
    )
    intervals = client.get("/metadata").json()["intervals"]
    assert intervals["calibration_rows"] == fitted.calibration_.n_rows
    assert intervals["max_level"] == pytest.approx(fitted.calibration_.max_level)
