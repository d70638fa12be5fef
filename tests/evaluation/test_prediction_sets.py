"""Conformal prediction sets: coverage on fresh rows, the set rules, the rank, saving."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest

from deepfit.errors import ConfigError, DataError
from deepfit.evaluation.prediction_sets import (
    MAX_SCORES,
    SET_METHODS,
    SetCalibration,
    cumulative_mass,
)

# A 3-class problem whose probabilities are known exactly: softmax(x @ W), x ~ N(0, I).
WEIGHTS = np.array([[2.0, -1.0, -1.0], [0.0, 1.5, -1.5]])


def _problem(n_rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    logits = rng.normal(size=(n_rows, 2)) @ WEIGHTS
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    codes = (rng.random((n_rows, 1)) > np.cumsum(proba, axis=1)).sum(axis=1)
    return proba, np.minimum(codes, 2)


@pytest.fixture(scope="module")
def split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """2,000 calibration rows and 20,000 fresh rows from the same distribution."""
    rng = np.random.default_rng(0)
    return {"calibration": _problem(2000, rng), "test": _problem(20_000, rng)}


def _covered(sets: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return sets[np.arange(len(codes)), codes]


# ------------------------------------------------------------------------------ coverage
@pytest.mark.parametrize("method", SET_METHODS)
@pytest.mark.parametrize("level", [0.8, 0.9])
def test_coverage_on_fresh_rows_is_close_to_the_level(
    split: dict[str, tuple[np.ndarray, np.ndarray]], method: str, level: float
) -> None:
    calibration = SetCalibration.from_probabilities(*split["calibration"], method)
    proba, codes = split["test"]
    coverage = float(np.mean(_covered(calibration.sets(proba, level), codes)))
    # 2,000 calibration rows: a standard deviation of 0.7 (0.9) to 0.9 (0.8) points; 20,000
    # test rows add 0.2 to 0.3
    assert level - 0.02 <= coverage <= level + 0.03


@pytest.mark.parametrize("level", [0.05, 0.5, 0.8, 0.99])
def test_aps_sets_are_never_empty(
    split: dict[str, tuple[np.ndarray, np.ndarray]], level: float
) -> None:
    calibration = SetCalibration.from_probabilities(*split["calibration"], "aps")
    proba = split["test"][0]
    sets = calibration.sets(proba, level)
    assert sets.dtype == bool
    assert sets.shape == proba.shape
    assert sets.any(axis=1).all()
    assert sets[np.arange(len(proba)), proba.argmax(axis=1)].all()  # the top class is in


def test_sets_grow_with_the_level(split: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    proba = split["test"][0]
    for method in SET_METHODS:
        calibration = SetCalibration.from_probabilities(*split["calibration"], method)
        sets = [calibration.sets(proba, level) for level in (0.5, 0.8, 0.9, 0.95)]
        for smaller, larger in itertools.pairwise(sets):
            assert not (smaller & ~larger).any()  # nested
        sizes = [s.sum(axis=1).mean() for s in sets]
        assert all(a < b for a, b in itertools.pairwise(sizes)), (method, sizes)


def test_lac_gives_smaller_sets_than_aps_on_calibrated_probabilities(
    split: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    proba = split["test"][0]
    size = {
        method: SetCalibration.from_probabilities(*split["calibration"], method)
        .sets(proba, 0.9)
        .sum(axis=1)
        .mean()
        for method in SET_METHODS
    }
    assert size["lac"] < size["aps"]


# ----------------------------------------------------------------------------- the rules
def test_scores_follow_their_definitions() -> None:
    proba = np.array([[0.5, 0.3, 0.2]] * 3 + [[0.4, 0.4, 0.2]] * 2)
    codes = np.array([0, 1, 2, 1, 0])
    lac = SetCalibration.from_probabilities(proba, codes, "lac")
    np.testing.assert_allclose(lac.scores, [0.5, 0.6, 0.6, 0.7, 0.8])
    aps = SetCalibration.from_probabilities(proba, codes, "aps")
    # mass ranked at or above the true class; 0 for the most probable (lowest code on a tie)
    np.testing.assert_allclose(aps.scores, [0.0, 0.0, 0.8, 0.8, 1.0])
    np.testing.assert_allclose(cumulative_mass(proba[3:4]), [[0.4, 0.8, 1.0]])


def test_a_class_is_in_the_set_when_its_score_is_within_the_threshold(
    split: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    proba = split["test"][0][:2000]
    lac = SetCalibration.from_probabilities(*split["calibration"], "lac")
    np.testing.assert_array_equal(lac.sets(proba, 0.9), 1.0 - proba <= lac.threshold(0.9))
    aps = SetCalibration.from_probabilities(*split["calibration"], "aps")
    top = np.eye(3, dtype=bool)[proba.argmax(axis=1)]
    expected = (cumulative_mass(proba) <= aps.threshold(0.9)) | top
    np.testing.assert_array_equal(aps.sets(proba, 0.9), expected)


def test_the_threshold_is_the_finite_sample_rank() -> None:
    proba = np.column_stack([np.linspace(1.0, 0.05, 20), np.linspace(0.0, 0.95, 20)])
    calibration = SetCalibration.from_probabilities(proba, np.zeros(20, int), "lac")
    ordered = np.sort(1.0 - proba[:, 0])
    assert calibration.n_rows == 20
    assert calibration.threshold(0.5) == ordered[10]  # ceil(21 * 0.5) = 11th smallest
    assert calibration.threshold(0.9) == ordered[18]  # ceil(21 * 0.9) = 19th smallest
    assert calibration.threshold(20 / 21) == ordered[19]
    assert calibration.max_level == pytest.approx(20 / 21)


def test_a_level_too_high_for_the_calibration_rows_is_refused() -> None:
    proba, codes = _problem(450, np.random.default_rng(1))
    calibration = SetCalibration.from_probabilities(proba, codes, "aps")
    calibration.sets(proba, 0.997)  # 450 / 451 = 0.9978 is the highest
    with pytest.raises(ConfigError, match=r"needs at least 999 calibration rows.*450"):
        calibration.sets(proba, 0.999)
    with pytest.raises(ConfigError, match=r"at most 0\.9977"):
        calibration.threshold(0.999)


@pytest.mark.parametrize("level", [0, 1, -0.1, 1.5, float("nan"), "0.9", True, None])
def test_levels_outside_zero_one_are_a_config_error(level: Any) -> None:
    calibration = SetCalibration.from_probabilities(np.eye(2), np.array([0, 1]), "lac")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        calibration.threshold(level)


def test_many_scores_are_subsampled_without_shrinking_a_set() -> None:
    proba, codes = _problem(25_001, np.random.default_rng(2))
    calibration = SetCalibration.from_probabilities(proba, codes, "lac")
    assert len(calibration.scores) == MAX_SCORES
    assert calibration.n_rows == 25_001
    ordered = np.sort(1.0 - proba[np.arange(25_001), codes])
    assert calibration.scores[0] == pytest.approx(ordered[0], rel=1e-9)
    assert calibration.scores[-1] == pytest.approx(ordered[-1], rel=1e-9)
    ulp = 1e-12  # the stored scores are of rows renormalised to sum to 1
    for level in (0.1, 0.5, 0.9, 0.99, 0.9999):
        rank = math.ceil(25_002 * level)
        # never below the exact quantile, and at most one stored step (2.5 ranks) above
        threshold = calibration.threshold(level)
        assert ordered[rank - 1] - ulp <= threshold <= ordered[min(rank + 2, 25_000)] + ulp


# ---------------------------------------------------------------------------- bad input
def test_an_unknown_method_or_no_rows_is_refused() -> None:
    with pytest.raises(ConfigError, match="aps, lac"):
        SetCalibration.from_probabilities(np.eye(2), np.array([0, 1]), "raps")
    with pytest.raises(DataError, match="at least one held-out row"):
        SetCalibration.from_probabilities(np.zeros((0, 2)), np.zeros(0, int), "aps")
    with pytest.raises(DataError, match="sum to 1"):
        SetCalibration.from_probabilities(np.array([[2.0, 3.0]]), np.array([0]), "aps")


# ------------------------------------------------------------------------------- saving
@pytest.mark.parametrize("method", SET_METHODS)
def test_to_dict_and_from_dict_give_the_same_sets(
    split: dict[str, tuple[np.ndarray, np.ndarray]], method: str
) -> None:
    calibration = SetCalibration.from_probabilities(*split["calibration"], method)
    document = json.loads(json.dumps(calibration.to_dict()))
    loaded = SetCalibration.from_dict(document)
    assert loaded.method == method
    assert loaded.n_rows == 2000
    np.testing.assert_array_equal(loaded.scores, calibration.scores)
    proba = split["test"][0][:500]
    np.testing.assert_array_equal(loaded.sets(proba, 0.9), calibration.sets(proba, 0.9))


@pytest.mark.parametrize(
    "document",
    [
        "scores",
        None,
        {"method": "raps", "n_rows": 2, "scores": [0.1, 0.2]},
        {"n_rows": 2, "scores": [0.1, 0.2]},
        {"method": "aps", "n_rows": 3, "scores": [0.1, 0.3, 0.2]},  # unsorted
        {"method": "aps", "n_rows": 2, "scores": [0.1, float("nan")]},
        {"method": "aps", "n_rows": 2, "scores": [0.1, float("inf")]},
        {"method": "lac", "n_rows": 2, "scores": [-0.1, 0.2]},
        {"method": "lac", "n_rows": 2, "scores": [0.1, 1.5]},
        {"method": "lac", "n_rows": 2, "scores": [0.1, "0.2"]},
        {"method": "lac", "n_rows": 2, "scores": [0.1, True]},
        {"method": "lac", "n_rows": 2, "scores": "0.1, 0.2"},
        {"method": "lac", "n_rows": 1, "scores": [0.1, 0.2]},  # more scores than rows
        {"method": "lac", "n_rows": 20_000, "scores": [0.5] * (MAX_SCORES + 1)},  # over the cap
        {"method": "lac", "n_rows": 0, "scores": []},
        {"method": "lac", "n_rows": "2", "scores": [0.1, 0.2]},
    ],
)
def test_malformed_documents_are_a_value_error(document: Any) -> None:
    with pytest.raises(ValueError, match="prediction set"):
        SetCalibration.from_dict(document)
