"""The forecasting HTTP API: forecasts as Forecaster.predict makes them, limits, errors, keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from deepfit import Forecaster
from deepfit.serve import ServerSettings, create_app
from deepfit.serve.app import model_version
from deepfit.serve.forecasting import ForecastGateway, parse_forecast_request
from deepfit.serve.predictor import TooLargeError
from tests.support.cli import invoke
from tests.support.series import make_series

HISTORY_STEPS, HORIZON = 190, 6
LIMITS = ServerSettings(max_body_bytes=200_000, max_rows=1_000)


@pytest.fixture(scope="module")
def forecaster() -> Forecaster:
    frame = make_series(200, series=2)
    model = Forecaster(HORIZON, lookback=24, hidden=16, max_epochs=3, time_limit=None)
    return model.fit(frame, target="load", time="timestamp", series="id", known=["temperature"])


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first 190 steps of each series, and the temperature of the 6 steps after them."""
    frame = make_series(200, series=2)
    history = frame.groupby("id").head(HISTORY_STEPS).reset_index(drop=True)
    steps = list(range(HISTORY_STEPS, HISTORY_STEPS + HORIZON))
    future = frame.groupby("id").nth(steps)[["id", "timestamp", "temperature"]]
    return history, future.reset_index(drop=True)


@pytest.fixture(scope="module")
def forecast_client(forecaster: Forecaster) -> TestClient:
    return TestClient(create_app(forecaster, LIMITS))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON records, floats exact, times as ISO text."""
    return frame.assign(timestamp=frame["timestamp"].map(pd.Timestamp.isoformat)).to_dict("records")


def _body(frames: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, Any]:
    history, future = frames
    return {"history": _records(history), "future": _records(future)}


def test_a_forecast_is_the_forecasters_own(
    forecast_client: TestClient, forecaster: Forecaster, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    answer = forecast_client.post("/forecast", json=_body(frames))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = forecaster.predict(*frames)
    got = pd.DataFrame(body["forecasts"])
    assert list(got.columns) == list(expected.columns) == ["id", "timestamp", "predicted_load"]
    assert got["id"].tolist() == expected["id"].tolist()
    assert got["timestamp"].tolist() == [t.isoformat() for t in expected["timestamp"]]
    np.testing.assert_allclose(got["predicted_load"], expected["predicted_load"], rtol=1e-12)
    assert (body["target"], body["horizon"], body["interval"]) == ("load", HORIZON, None)
    assert body["model_version"] == "in-memory"


def test_times_written_as_numbers_are_answered_as_numbers() -> None:
    frame = make_series(120).assign(year=np.arange(1901, 2021))  # yearly steps, as numbers
    model = Forecaster(HORIZON, lookback=24, hidden=16, max_epochs=2, time_limit=None)
    model.fit(frame.drop(columns="timestamp"), target="load", time="year")
    history = frame.drop(columns="timestamp").head(100)
    answer = TestClient(create_app(model, LIMITS)).post(
        "/forecast", json={"history": history.to_dict("records")}
    )
    assert answer.status_code == 200, answer.text
    assert [row["year"] for row in answer.json()["forecasts"]] == list(range(2001, 2007))


def test_an_interval_adds_the_bounds(
    forecast_client: TestClient, forecaster: Forecaster, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    body = forecast_client.post("/forecast?interval=0.9", json=_body(frames)).json()
    got = pd.DataFrame(body["forecasts"])
    expected = forecaster.predict(*frames, interval=0.9)
    assert body["interval"] == 0.9
    for column in ("lower_load", "predicted_load", "upper_load"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-12)
    assert (got["lower_load"] < got["predicted_load"]).all()
    assert (got["predicted_load"] < got["upper_load"]).all()


def test_too_many_records_are_413_before_any_row_is_read(forecast_client: TestClient) -> None:
    answer = forecast_client.post("/forecast", json={"history": [{}] * 600, "future": [{}] * 401})
    assert answer.status_code == 413
    assert answer.json() == {
        "error": "the request has 1001 records; send at most 1000",
        "detail": [],
    }


def test_a_body_over_the_limit_is_413_by_its_length_or_while_read(
    forecast_client: TestClient,
) -> None:
    big = b'{"history": [' + b" " * 200_001 + b"]}"
    answer = forecast_client.post("/forecast", content=big)
    assert answer.status_code == 413
    assert "limit is 200000" in answer.json()["error"]

    def chunks() -> Any:  # no content-length: counted while reading
        for _ in range(30):
            yield b" " * 10_000

    streamed = forecast_client.post("/forecast", content=chunks())
    assert streamed.status_code == 413
    assert "exceeds the limit of 200000 bytes" in streamed.json()["error"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"history": [', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"history": "rows"}', "must be a JSON object"),
        (b'{"history": [{"a": 1}], "rows": []}', "unknown field(s) rows"),
        (b'{"history": [{"a": 1}], "future": 3}', "future must be a list"),
        (b'{"history": []}', "history has no records"),
        (b'{"history": [1]}', "history[0] is not an object"),
        (b'{"history": [{"a": 1}, {"a": [1]}]}', "history[1] is not an object"),
    ],
)
def test_malformed_bodies_are_one_line_422s(
    forecast_client: TestClient, body: bytes, fragment: str
) -> None:
    answer = forecast_client.post("/forecast", content=body)
    assert answer.status_code == 422
    problem = answer.json()
    assert fragment in problem["error"]
    assert "\n" not in problem["error"]
    assert problem["detail"] == []


def test_missing_known_covariates_are_a_422_naming_them(
    forecast_client: TestClient, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    answer = forecast_client.post("/forecast", json={"history": _records(frames[0])})
    assert answer.status_code == 422
    assert "the model reads the known covariate(s) temperature" in answer.json()["error"]
    future = frames[1].drop(columns="temperature")
    body = {"history": _records(frames[0]), "future": _records(future)}
    lacking = forecast_client.post("/forecast", json=body)
    assert lacking.status_code == 422
    assert "lack column(s) temperature" in lacking.json()["error"]


def test_a_history_shorter_than_the_lookback_is_a_422(
    forecast_client: TestClient, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    history, future = frames
    short = history.groupby("id").tail(10)
    body = {"history": _records(short), "future": _records(future)}
    answer = forecast_client.post("/forecast", json=body)
    assert answer.status_code == 422
    assert "has 10 steps of history, fewer than the 24 the model reads" in answer.json()["error"]


def test_a_bad_interval_is_a_one_line_422(
    forecast_client: TestClient, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    answer = forecast_client.post("/forecast?interval=1.5", json=_body(frames))
    assert answer.status_code == 422
    assert answer.json()["error"] == "query.interval: input should be less than 1"


def test_an_api_key_is_required_but_not_for_health(
    forecaster: Forecaster, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    client = TestClient(create_app(forecaster, ServerSettings(api_key="s3cret")))
    assert client.post("/forecast", json=_body(frames)).status_code == 401
    assert client.get("/metadata", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/metadata", headers={"X-API-Key": "s3cret"}).status_code == 200
    bearer = {"Authorization": "Bearer s3cret"}
    assert client.post("/forecast", json=_body(frames), headers=bearer).status_code == 200
    assert client.get("/health").status_code == 200


def test_a_saved_forecaster_is_served_and_its_metadata_has_no_path(
    tmp_path: Path, forecaster: Forecaster
) -> None:
    path = forecaster.save(tmp_path / "load.deepfit")
    app = create_app(path)
    assert isinstance(app, ForecastGateway)
    client = TestClient(app)
    answer = client.get("/metadata")
    assert str(tmp_path) not in answer.text
    metadata = answer.json()
    assert metadata["task"] == "forecasting"
    assert (metadata["target"], metadata["time"], metadata["series"]) == ("load", "timestamp", "id")
    assert (metadata["known"], metadata["past"]) == (["temperature"], ["sensor"])
    assert (metadata["horizon"], metadata["lookback"], metadata["frequency"]) == (6, 24, "h")
    assert metadata["model"] == "mlp"
    assert metadata["model_version"] == model_version(path)
    assert client.get("/health").json()["model_version"] == model_version(path)


def test_metrics_count_forecasts(
    forecast_client: TestClient, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    forecast_client.post("/forecast", json=_body(frames))
    families = text_string_to_metric_families(forecast_client.get("/metrics").text)
    samples = {
        (sample.name, sample.labels.get("path"), sample.labels.get("status")): sample.value
        for family in families
        for sample in family.samples
    }
    assert samples[("deepfit_requests_total", "/forecast", "200")] >= 1
    assert samples[("deepfit_rows_predicted_total", None, None)] >= 2 * HORIZON


def test_parsing_checks_the_row_count_before_the_rows() -> None:
    body = b'{"history": [1, 2, 3], "future": null}'
    with pytest.raises(TooLargeError, match="the request has 3 records; send at most 2"):
        parse_forecast_request(body, 2)


def test_serve_help_names_the_forecast_route() -> None:
    result = invoke("serve", "--help")
    assert result.exit_code == 0
    assert "POST /forecast" in result.output
