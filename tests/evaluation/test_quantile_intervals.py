"""Conformalised quantile regression: ``Regressor(interval_method="quantile")``."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import deepfit
from deepfit import ArtifactError, ConfigError, Regressor
from deepfit.evaluation.intervals import (
    QUANTILE_INTERVAL_LEVELS,
    QUANTILE_LEVELS,
    QuantileCalibration,
    quantile_bounds,
    quantile_columns,
)
from deepfit.serve.app import create_app
from tests.support.tables import FAST

QUANTILE: dict[str, Any] = FAST | {
    "max_epochs": 25,
    "batch_size": 128,
    "interval_method": "quantile",
    "validation_fraction": 0.3,  # 900 calibration rows of 3,000
}


def _noisy_table(n_rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features, a target whose noise grows with ``|x2|``, and that noise's scale."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n_rows)
    x2 = rng.uniform(-2, 2, size=n_rows)
    scale = 0.2 + np.abs(x2)
    y = 2.0 * x1 + scale * rng.normal(size=n_rows)
    return pd.DataFrame({"x1": x1, "x2": x2}), 50.0 + 10.0 * y, scale


@pytest.fixture(scope="module")
def quantile_model() -> Regressor:
    X, y, _ = _noisy_table(3000, seed=20)
    return Regressor(**QUANTILE).fit(X, y)


@pytest.fixture(scope="module")
def fresh() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    return _noisy_table(4000, seed=21)


# ------------------------------------------------------------------------ behaviour
@pytest.mark.parametrize("level", [0.5, 0.9])
def test_coverage_on_fresh_data_is_close_to_the_level(
    quantile_model: Regressor, fresh: tuple[pd.DataFrame, np.ndarray, np.ndarray], level: float
) -> None:
    X, y, _ = fresh
    result = quantile_model.predict(X, interval=level)
    covered = float(np.mean((result.lower <= y) & (y <= result.upper)))
    # 900 calibration rows: a standard deviation of 1.0 (0.9) to 1.7 (0.5) points
    assert covered == pytest.approx(level, abs=0.05)


def test_each_row_gets_its_own_width_that_follows_the_noise(
    quantile_model: Regressor, fresh: tuple[pd.DataFrame, np.ndarray, np.ndarray]
) -> None:
    X, _, scale = fresh
    result = quantile_model.predict(X, interval=0.9)
    assert np.corrcoef(result.width, scale)[0, 1] > 0.8
    quiet, loud = scale < 0.5, scale > 1.5
    assert result.width[loud].mean() > 1.8 * result.width[quiet].mean()  # conformal: 1.0
    assert np.all(result.lower <= result.prediction)
    assert np.all(result.prediction <= result.upper)
    np.testing.assert_array_equal(result.prediction, quantile_model.predict(X))


def test_the_quantile_network_learns_ordered_quantiles(
    quantile_model: Regressor, fresh: tuple[pd.DataFrame, np.ndarray, np.ndarray]
) -> None:
    X, y, _ = fresh
    features = quantile_model.preprocessor_.transform(X)
    quantiles = quantile_model.quantile_features(features)
    assert quantiles.shape == (len(X), len(QUANTILE_LEVELS))
    below = (y[:, None] <= quantiles).mean(axis=0)
    # each learned quantile holds about its share of fresh targets, before any calibration
    np.testing.assert_allclose(below, QUANTILE_LEVELS, atol=0.08)


def test_only_the_grid_levels_are_offered(quantile_model: Regressor) -> None:
    X = _noisy_table(3, seed=22)[0]
    for level in (0.05, 0.8, 0.95):
        quantile_model.predict(X, interval=level)
    with pytest.raises(ConfigError, match=r"0\.05, 0\.1, \.\.\., 0\.95, not 0\.93"):
        quantile_model.predict(X, interval=0.93)


def test_an_unknown_interval_method_is_a_config_error() -> None:
    X, y, _ = _noisy_table(50, seed=23)
    with pytest.raises(ConfigError, match="interval_method must be one of conformal, quantile"):
        Regressor(**FAST, interval_method="bayes").fit(X, y)


# ---------------------------------------------------------------------------- the maths
def test_scores_are_how_far_a_row_falls_outside_its_raw_interval() -> None:
    y = np.array([0.0, 5.0, 12.0])
    # every row: quantile j predicts j, so the 0.9 raw interval is [1, 37]
    quantiles = np.tile(np.arange(len(QUANTILE_LEVELS), dtype=np.float64), (3, 1))
    low, high = quantile_columns(0.9)
    assert (QUANTILE_LEVELS[low], QUANTILE_LEVELS[high]) == (0.05, 0.95)
    calibration = QuantileCalibration.from_predictions(quantiles, y)
    np.testing.assert_array_equal(calibration.scores[0.9].residuals, [-11.0, -4.0, 1.0])
    assert calibration.n_rows == 3
    assert set(calibration.scores) == set(QUANTILE_INTERVAL_LEVELS)
    # with 3 rows, 0.5 is the ceil(4 * 0.5) = 2nd smallest score: -4 moves both bounds in
    assert calibration.quantile(0.5) == calibration.scores[0.5].quantile(0.5)
    lower, upper = quantile_bounds(np.array([20.0]), quantiles[:1], calibration, 0.75)
    correction = calibration.quantile(0.75)
    low, high = quantile_columns(0.75)
    assert lower[0] == min(low - correction, 20.0)
    assert upper[0] == max(high + correction, 20.0)


def test_crossed_quantiles_are_sorted_before_use() -> None:
    y = np.zeros(5)
    ordered = np.tile(np.linspace(-1.0, 1.0, len(QUANTILE_LEVELS)), (5, 1))
    crossed = ordered[:, ::-1]
    a = QuantileCalibration.from_predictions(ordered, y)
    b = QuantileCalibration.from_predictions(crossed, y)
    np.testing.assert_array_equal(a.scores[0.9].residuals, b.scores[0.9].residuals)


# ------------------------------------------------------------------- saving and serving
def test_save_and_load_give_identical_bounds(
    quantile_model: Regressor, fresh: tuple[pd.DataFrame, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    X = fresh[0].iloc[:100]
    loaded = deepfit.load(quantile_model.save(tmp_path / "q.deepfit"))
    assert isinstance(loaded.calibration_, QuantileCalibration)
    for level in (0.5, 0.9):
        before = quantile_model.predict(X, interval=level)
        after = loaded.predict(X, interval=level)
        np.testing.assert_array_equal(after.lower, before.lower)
        np.testing.assert_array_equal(after.upper, before.upper)


def test_a_quantile_calibration_without_its_network_is_an_artifact_error(
    quantile_model: Regressor, tmp_path: Path
) -> None:
    saved = quantile_model.save(tmp_path / "q.deepfit")
    with zipfile.ZipFile(saved) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    from safetensors.torch import load, save

    weights = load(members["weights.safetensors"])
    kept = {name: t for name, t in weights.items() if not name.startswith("quantile_network.")}
    assert len(kept) < len(weights)
    members["weights.safetensors"] = save(kept)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    bad = tmp_path / "bad.deepfit"
    bad.write_bytes(buffer.getvalue())
    with pytest.raises(ArtifactError, match="without its interval network"):
        deepfit.load(bad)
    metadata = json.loads(members["metadata.json"])
    assert metadata["calibration"]["method"] == "conformalized_quantile"


def test_the_server_gives_the_same_quantile_bounds(
    quantile_model: Regressor, fresh: tuple[pd.DataFrame, np.ndarray, np.ndarray]
) -> None:
    X = fresh[0].iloc[:5]
    client = TestClient(create_app(quantile_model))
    answer = client.post("/predict?interval=0.9", json=X.to_dict(orient="records"))
    assert answer.status_code == 200, answer.text
    expected = quantile_model.predict(X, interval=0.9)
    scale = 1e-5 * np.abs(expected.upper).max()
    np.testing.assert_allclose(answer.json()["lower"], expected.lower, atol=scale)
    np.testing.assert_allclose(answer.json()["upper"], expected.upper, atol=scale)
    refused = client.post("/predict?interval=0.93", json=X.to_dict(orient="records"))
    assert refused.status_code == 422
    assert "0.05, 0.1, ..., 0.95" in refused.json()["error"]
    assert client.get("/metadata").json()["intervals"]["max_level"] == 0.95
