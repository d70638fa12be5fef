"""Temperature scaling recovers a known temperature, calibrates, and keeps every argmax."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from deepfit.errors import DataError
from deepfit.evaluation.temperature import (
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    fit_temperature,
    log_softmax,
    scaled_probabilities,
)


def _sample(proba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One class code per row, drawn from that row's probabilities."""
    codes = (rng.random((len(proba), 1)) > np.cumsum(proba, axis=1)).sum(axis=1)
    return np.minimum(codes, proba.shape[1] - 1)


def _nll(logits: np.ndarray, codes: np.ndarray, temperature: float) -> float:
    proba = scaled_probabilities(logits, temperature)
    return float(log_loss(codes, proba, labels=range(logits.shape[1])))


@pytest.mark.parametrize("true_temperature", [0.5, 2.0, 4.0])
def test_a_known_temperature_is_recovered(true_temperature: float) -> None:
    rng = np.random.default_rng(int(true_temperature * 10))
    logits = rng.normal(scale=3.0, size=(20_000, 4))
    codes = _sample(scaled_probabilities(logits, true_temperature), rng)
    # 20,000 rows: the estimate's standard error is about 1.5% of the temperature
    assert fit_temperature(logits, codes) == pytest.approx(true_temperature, rel=0.06)


def test_the_temperature_minimises_the_held_out_nll() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2.0, size=(3000, 3))
    codes = _sample(scaled_probabilities(logits, 1.7), rng)
    fitted = fit_temperature(logits, codes)
    best = _nll(logits, codes, fitted)
    for other in (fitted * 0.97, fitted * 1.03, 1.0, 1.7):
        assert best <= _nll(logits, codes, other) + 1e-9


def test_over_confident_logits_get_a_lower_nll_and_the_same_argmax() -> None:
    rng = np.random.default_rng(2)
    honest = rng.normal(scale=1.5, size=(4000, 5))
    codes = _sample(scaled_probabilities(honest, 1.0), rng)
    confident = 4.0 * honest  # what an over-fitted network outputs
    temperature = fit_temperature(confident, codes)
    assert temperature == pytest.approx(4.0, rel=0.1)
    assert _nll(confident, codes, temperature) < 0.8 * _nll(confident, codes, 1.0)
    calibrated = scaled_probabilities(confident, temperature)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), confident.argmax(axis=1))
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)


@pytest.mark.parametrize("temperature", [MIN_TEMPERATURE, 0.3, 7.0, MAX_TEMPERATURE])
def test_no_temperature_changes_the_argmax(temperature: float) -> None:
    logits = np.random.default_rng(3).normal(scale=5.0, size=(500, 6))
    proba = scaled_probabilities(logits, temperature)
    np.testing.assert_array_equal(proba.argmax(axis=1), logits.argmax(axis=1))


def test_the_search_stays_within_its_bounds() -> None:
    logits = np.array([[6.0, 0.0]] * 50 + [[0.0, 6.0]] * 50)
    coin = np.tile([0, 1], 50)  # the logits carry no information: as soft as allowed
    assert fit_temperature(logits, coin, prior=None) == pytest.approx(MAX_TEMPERATURE, rel=1e-3)
    right = np.repeat([0, 1], 50)  # always right: sharp, until the NLL is 0 to float precision
    sharp = fit_temperature(logits, right, prior=None)
    assert MIN_TEMPERATURE <= sharp < 0.2
    assert scaled_probabilities(logits, sharp)[np.arange(100), right].min() > 1 - 1e-12


def test_the_prior_keeps_a_perfectly_classified_small_set_from_sharpening() -> None:
    logits = np.array([[6.0, 0.0]] * 20 + [[0.0, 6.0]] * 20)
    right = np.repeat([0, 1], 20)
    assert fit_temperature(logits, right) > 0.8  # not the 0.05 the NLL alone would pick
    assert fit_temperature(logits, right, lowest=1.0) == pytest.approx(1.0)
    rng = np.random.default_rng(4)  # with enough rows, the prior changes little
    honest = rng.normal(scale=1.5, size=(4000, 3))
    codes = _sample(scaled_probabilities(honest, 1.0), rng)
    with_prior = fit_temperature(3.0 * honest, codes)
    assert with_prior == pytest.approx(fit_temperature(3.0 * honest, codes, prior=None), rel=0.02)


def test_huge_logits_stay_finite() -> None:
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4], [-1e4, 0.0, 1e4]])
    assert np.isfinite(log_softmax(logits)).all()
    temperature = fit_temperature(logits, np.array([0, 2, 1]))
    assert MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE
    assert np.isfinite(scaled_probabilities(logits, temperature)).all()


@pytest.mark.parametrize(
    "logits",
    [np.zeros((0, 3)), np.array([[1.0, np.nan, 0.0]]), np.array([[np.inf, 0.0, 0.0]])],
)
def test_no_rows_or_non_finite_logits_leave_the_logits_alone(logits: np.ndarray) -> None:
    assert fit_temperature(logits, np.zeros(len(logits), dtype=np.int64)) == 1.0


def test_codes_out_of_range_are_a_data_error() -> None:
    with pytest.raises(DataError, match=r"0\.\.2"):
        fit_temperature(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(DataError, match="2-D"):
        fit_temperature(np.zeros(3), np.array([0, 1, 2]))
