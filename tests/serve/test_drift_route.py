"""GET /drift and the drift gauges of GET /metrics, driven through the served app."""

from __future__ import annotations

import copy
import re

import numpy as np
from fastapi.testclient import TestClient

from deepfit import Regressor
from deepfit.serve import ServerSettings, create_app
from tests.support.tables import make_table

FEATURES = ["x1", "x2", "colour", "flag", "day"]


def _send(client: TestClient, frame, *, chunk: int = 200) -> None:
    rows = frame[FEATURES].replace({np.nan: None}).to_dict(orient="records")
    for start in range(0, len(rows), chunk):
        answer = client.post("/predict", json=rows[start : start + chunk])
        assert answer.status_code == 200, answer.text


def _gauges(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    found = re.findall(
        r'^deepfit_feature_drift\{feature="([^"]+)",measure="psi"\} (\S+)$', text, re.M
    )
    return {name: float(value) for name, value in found}


def test_traffic_shifted_in_one_feature_raises_that_gauge_alone(fitted: Regressor) -> None:
    client = TestClient(create_app(fitted, ServerSettings(max_rows=1_000)))
    assert client.get("/drift").json()["status"] == "not enough rows yet"
    assert _gauges(client) == {}
    rows = make_table(n_rows=1_200, seed=11)
    rows["x2"] = rows["x2"] + 3.0  # beyond everything training saw
    _send(client, rows)
    report = client.get("/drift").json()
    assert report["window_rows"] == 1_200
    assert report["features"][0]["feature"] == "x2"
    assert report["features"][0]["status"] == "drifted"
    assert report["features"][0]["reading"].startswith("x2: PSI")
    gauges = _gauges(client)
    assert gauges["x2"] > 0.25
    assert all(value < 0.25 for name, value in gauges.items() if name != "x2"), gauges
    assert "deepfit_prediction_drift" in client.get("/metrics").text


def test_unshifted_traffic_reads_fine(fitted: Regressor) -> None:
    client = TestClient(create_app(fitted, ServerSettings(max_rows=1_000)))
    _send(client, make_table(n_rows=1_200, seed=12))
    report = client.get("/drift").json()
    assert all(entry["value"] < 0.25 for entry in report["features"]), report["features"]


def test_drift_needs_the_key_and_a_reference(fitted: Regressor) -> None:
    keyed = TestClient(create_app(fitted, ServerSettings(api_key="secret")))
    assert keyed.get("/drift").status_code == 401
    assert keyed.get("/drift", headers={"X-API-Key": "secret"}).status_code == 200
    old = copy.copy(fitted)
    old.reference_ = None  # as a model saved before deepfit kept a reference
    answer = TestClient(create_app(old)).get("/drift")
    assert answer.status_code == 404
    assert "no reference" in answer.json()["error"]
    off = TestClient(create_app(fitted, ServerSettings(drift=False)))
    assert off.get("/drift").status_code == 404
    assert "deepfit_feature_drift" not in off.get("/metrics").text
