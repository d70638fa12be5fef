"""Regression metrics agree with scikit-learn and refuse targets they do not suit."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from deepfit.evaluation import metrics


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y_true = rng.normal(loc=10.0, scale=3.0, size=200)
    y_pred = y_true + rng.normal(loc=0.5, scale=1.0, size=200)
    return y_true, y_pred


@pytest.mark.parametrize(
    ("ours", "reference"),
    [
        (metrics.mse, skm.mean_squared_error),
        (metrics.rmse, lambda t, p: np.sqrt(skm.mean_squared_error(t, p))),
        (metrics.mae, skm.mean_absolute_error),
        (metrics.r2, skm.r2_score),
        (metrics.explained_variance, skm.explained_variance_score),
        (metrics.median_absolute_error, skm.median_absolute_error),
        (metrics.mape, skm.mean_absolute_percentage_error),
    ],
)
def test_agrees_with_sklearn(data, ours, reference):
    y_true, y_pred = data
    value = ours(y_true, y_pred)
    assert isinstance(value, float)
    assert value == pytest.approx(float(reference(y_true, y_pred)), rel=1e-12)


def test_known_values():
    y_true = np.array([1.0, 2.0, 3.0, 4.0])
    y_pred = np.array([1.0, 2.0, 3.0, 8.0])
    assert metrics.mse(y_true, y_pred) == 4.0
    assert metrics.rmse(y_true, y_pred) == 2.0
    assert metrics.mae(y_true, y_pred) == 1.0
    assert metrics.median_absolute_error(y_true, y_pred) == 0.0
    assert metrics.mape(y_true, y_pred) == pytest.approx(0.25)


def test_explained_variance_ignores_a_constant_offset(data):
    y_true, _ = data
    assert metrics.explained_variance(y_true, y_true + 5.0) == pytest.approx(1.0)
    assert metrics.r2(y_true, y_true + 5.0) < 1.0


def test_r2_of_a_single_row_is_nan():
    assert math.isnan(metrics.r2(np.array([1.0]), np.array([2.0])))
    assert math.isnan(metrics.explained_variance(np.array([1.0]), np.array([2.0])))


def test_mape_is_nan_with_a_zero_target():
    y_true = np.array([0.0, 1.0, 2.0])
    assert math.isnan(metrics.mape(y_true, np.array([0.1, 1.0, 2.0])))
    scores = metrics.regression_metrics(y_true, np.array([0.1, 1.0, 2.0]))
    assert "mape" not in scores
    assert "mae" in scores


def test_msle_matches_sklearn_for_non_negative_data():
    rng = np.random.default_rng(0)
    y_true = rng.uniform(0, 10, size=100)
    y_pred = rng.uniform(0, 10, size=100)
    assert metrics.msle(y_true, y_pred) == pytest.approx(skm.mean_squared_log_error(y_true, y_pred))
    assert metrics.rmsle(y_true, y_pred) == pytest.approx(
        np.sqrt(skm.mean_squared_log_error(y_true, y_pred))
    )


def test_msle_is_nan_for_negative_targets():
    y_true = np.array([-1.0, 2.0])
    y_pred = np.array([1.0, 2.0])
    assert math.isnan(metrics.msle(y_true, y_pred))
    assert math.isnan(metrics.rmsle(y_true, y_pred))
    scores = metrics.regression_metrics(y_true, y_pred)
    assert "msle" not in scores
    assert "rmsle" not in scores


def test_negative_predictions_count_as_zero():
    y_true = np.array([1.0, 3.0])
    assert metrics.msle(y_true, np.array([-5.0, 3.0])) == metrics.msle(y_true, np.array([0.0, 3.0]))
    expected = np.log1p(1.0) ** 2 / 2
    assert metrics.msle(y_true, np.array([-5.0, 3.0])) == pytest.approx(expected)
    assert math.isfinite(metrics.rmsle(y_true, np.array([-5.0, -1.0])))


def test_regression_metrics_keys_and_values(data):
    y_true, y_pred = data
    y_true, y_pred = np.abs(y_true), np.abs(y_pred)
    scores = metrics.regression_metrics(y_true.tolist(), y_pred.reshape(-1, 1))
    assert set(scores) == {
        "rmse",
        "mse",
        "mae",
        "r2",
        "explained_variance",
        "mape",
        "msle",
        "rmsle",
        "median_ae",
    }
    assert set(scores) == set(metrics.METRICS)
    assert scores["mae"] == pytest.approx(skm.mean_absolute_error(y_true, y_pred))
    assert all(isinstance(value, float) and math.isfinite(value) for value in scores.values())


def test_regression_metrics_of_a_perfect_fit():
    y = np.array([1.0, 2.0, 4.0])
    scores = metrics.regression_metrics(y, y)
    assert scores["rmse"] == 0.0
    assert scores["r2"] == 1.0
    assert scores["mape"] == 0.0
