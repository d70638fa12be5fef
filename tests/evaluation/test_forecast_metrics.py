"""Forecast metrics score observed steps only, overall and by step ahead."""

import json
import math

import numpy as np
import pytest

from deepfit.evaluation.forecast_metrics import forecast_metrics, mase_scale, season_length

NAN = float("nan")


@pytest.mark.parametrize(
    ("frequency", "season"),
    [
        ("30min", 48),
        ("15min", 96),
        ("h", 24),
        ("2h", 12),
        ("D", 7),
        ("B", 5),
        ("W-SUN", 52),
        ("MS", 12),
        ("ME", 12),
        ("QS-JAN", 4),
        ("YS-JAN", 1),
        ("YE-DEC", 1),
        ("7min", 1),
        ("3ME", 4),
    ],
)
def test_season_length_is_the_natural_cycle_of_the_frequency(frequency, season):
    assert season_length(frequency) == season


def test_mase_scale_is_the_mean_absolute_seasonal_difference():
    assert mase_scale(np.array([1.0, 2.0, 4.0, 7.0, 11.0]), 2) == pytest.approx(5.0)


def test_mase_scale_skips_pairs_with_a_missing_value():
    assert mase_scale(np.array([1.0, NAN, 4.0, 7.0, 11.0]), 2) == pytest.approx(5.0)


def test_mase_scale_falls_back_to_one_step_for_short_or_flat_seasonal_history():
    assert mase_scale(np.array([1.0, 3.0, 6.0]), 3) == pytest.approx(2.5)
    assert mase_scale(np.array([1.0, 2.0, 1.0, 2.0, 1.0, 2.0]), 2) == pytest.approx(1.0)


@pytest.mark.parametrize("history", [[5.0, 5.0, 5.0], [NAN, NAN, NAN], [3.0], []])
def test_mase_scale_is_nan_when_no_difference_is_available(history):
    assert math.isnan(mase_scale(np.array(history), 2))


def _example():
    actual = np.array([[2.0, 4.0, NAN], [1.0, 2.0, 4.0]])
    predicted = np.array([[1.0, 4.0, 9.0], [2.0, 0.0, 5.0]])
    return actual, predicted


def test_forecast_metrics_match_hand_computed_values_and_skip_missing_actuals():
    actual, predicted = _example()
    scores = forecast_metrics(actual, predicted, np.array([2.0, 1.0]))
    assert scores["n_scored"] == 5
    assert scores["mae"] == pytest.approx(1.0)
    assert scores["rmse"] == pytest.approx(math.sqrt(7 / 5))
    assert scores["smape"] == pytest.approx(100 * 32 / 45)
    assert scores["mape"] == pytest.approx(55.0)
    assert scores["mase"] == pytest.approx(0.9)
    by_step = scores["by_step"]
    assert by_step["mae"] == pytest.approx([1.0, 1.0, 1.0])
    assert by_step["rmse"] == pytest.approx([1.0, math.sqrt(2.0), 1.0])
    assert by_step["mase"] == pytest.approx([0.75, 1.0, 1.0])
    assert all(len(values) == 3 for values in by_step.values())


def test_forecast_metrics_are_plain_floats_ready_for_json():
    actual, predicted = _example()
    scores = forecast_metrics(actual, predicted, np.array([2.0, 1.0]))
    assert type(scores["mae"]) is float
    assert all(type(value) is float for value in scores["by_step"]["smape"])
    json.dumps(scores, allow_nan=False)


def test_mase_leaves_out_windows_without_a_scale_and_is_none_without_any():
    actual, predicted = _example()
    partial = forecast_metrics(actual, predicted, np.array([NAN, 1.0]))
    assert partial["mase"] == pytest.approx(4 / 3)
    assert partial["by_step"]["mase"] == pytest.approx([1.0, 2.0, 1.0])
    assert partial["mae"] == pytest.approx(1.0)
    missing = forecast_metrics(actual, predicted, np.array([NAN, NAN]))
    assert missing["mase"] is None
    assert missing["by_step"]["mase"] is None


def test_mape_is_none_with_a_zero_actual_and_smape_counts_zero_over_zero_as_zero():
    scores = forecast_metrics(np.array([[0.0, 2.0]]), np.array([[0.0, 1.0]]), np.array([1.0]))
    assert scores["mape"] is None
    assert scores["by_step"]["mape"] is None
    assert scores["smape"] == pytest.approx(100 / 3)


def test_a_step_ahead_with_no_observed_actual_scores_none():
    actual = np.array([[1.0, NAN], [2.0, NAN]])
    scores = forecast_metrics(actual, np.ones((2, 2)), np.ones(2))
    assert scores["by_step"]["mae"] == [pytest.approx(0.5), None]
    assert scores["n_scored"] == 2


def test_a_missing_forecast_is_left_out_and_counted_out():
    actual, predicted = _example()
    predicted[1, 1] = NAN
    scores = forecast_metrics(actual, predicted, np.array([2.0, 1.0]))
    assert scores["n_scored"] == 4
    assert scores["mae"] == pytest.approx(3 / 4)
    assert scores["by_step"]["mae"] == pytest.approx([1.0, 0.0, 1.0])


def test_with_nothing_to_score_every_metric_is_none():
    scores = forecast_metrics(np.full((2, 3), NAN), np.ones((2, 3)), np.ones(2))
    assert scores["n_scored"] == 0
    assert scores["mae"] is None
    assert scores["mase"] is None
    assert scores["by_step"]["rmse"] == [None, None, None]


def test_forecast_metrics_reject_mismatched_shapes():
    actual, predicted = _example()
    with pytest.raises(ValueError, match="n_windows, H"):
        forecast_metrics(actual, predicted[:, :2], np.ones(2))
    with pytest.raises(ValueError, match="one value per window"):
        forecast_metrics(actual, predicted, np.ones(3))
