"""Split-conformal prediction intervals: coverage, the conformal rank, saving, bad levels."""

from __future__ import annotations

import io
import itertools
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import deepfit
from deepfit import ArtifactError, ConfigError, Regressor
from deepfit.evaluation.intervals import MAX_RESIDUALS, ConformalCalibration, PredictionIntervals
from tests.support.tables import FAST, make_table

# Small and quick: a 32x32 network, 15 epochs of 128-row batches.
SMALL: dict[str, Any] = FAST | {"max_epochs": 15, "batch_size": 128}


def _features_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns="y"), frame["y"]


@pytest.fixture(scope="module")
def calibrated() -> Regressor:
    """Fitted on 3,000 rows; early stopping and calibration on its 450 held-out rows."""
    X, y = _features_target(make_table(3000, seed=10))
    return Regressor(**SMALL).fit(X, y)


@pytest.fixture(scope="module")
def fresh() -> tuple[pd.DataFrame, np.ndarray]:
    """New rows from the same distribution, which neither trained nor calibrated the model."""
    X, y = _features_target(make_table(4000, seed=11))
    return X, y.to_numpy()


def _coverage(result: PredictionIntervals, y: np.ndarray) -> float:
    return float(np.mean((result.lower <= y) & (y <= result.upper)))


# ------------------------------------------------------------------------------ coverage
@pytest.mark.parametrize("level", [0.5, 0.9])
def test_coverage_on_fresh_data_is_close_to_the_level(
    calibrated: Regressor, fresh: tuple[pd.DataFrame, np.ndarray], level: float
) -> None:
    X, y = fresh
    result = calibrated.predict(X, interval=level)
    # 450 calibration rows: the coverage has a standard deviation of about 1.4 (0.9) to
    # 2.4 (0.5) points around the level; 4,000 test rows add about 0.5 to 0.8.
    assert _coverage(result, y) == pytest.approx(level, abs=0.05)


def test_calibration_is_on_the_held_out_rows(calibrated: Regressor) -> None:
    calibration = calibrated.calibration_
    assert calibration is not None
    assert calibration.n_rows == calibrated.training_summary_["validation_rows"] == 450
    assert len(calibration.residuals) == 450
    assert np.all(np.diff(calibration.residuals) >= 0)


def test_calibration_holds_the_residuals_of_a_given_validation_set() -> None:
    X, y = _features_target(make_table(300, seed=3))
    X_val, y_val = _features_target(make_table(120, seed=4))
    model = Regressor(**SMALL | {"max_epochs": 5}, patience=None).fit(
        X, y, X_val=X_val, y_val=y_val
    )
    assert model.calibration_ is not None
    expected = np.sort(np.abs(y_val.to_numpy() - model.predict(X_val)))
    np.testing.assert_array_equal(model.calibration_.residuals, expected)
    # with 120 residuals, 0.9 is the ceil(121 * 0.9) = 109th smallest
    result = model.predict(X.iloc[:4], interval=0.9)
    np.testing.assert_allclose(result.upper - result.prediction, expected[108], rtol=1e-12)
    np.testing.assert_allclose(result.prediction - result.lower, expected[108], rtol=1e-12)
    assert not np.allclose(result.upper - result.prediction, expected[107], rtol=1e-12)


def test_intervals_widen_with_the_level(
    calibrated: Regressor, fresh: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X = fresh[0].iloc[:50]
    widths = [calibrated.predict(X, interval=level).width[0] for level in (0.5, 0.8, 0.9, 0.95)]
    assert all(a < b for a, b in itertools.pairwise(widths)), widths
    result = calibrated.predict(X, interval=0.9)
    assert np.all(result.lower < result.prediction)
    assert np.all(result.prediction < result.upper)
    np.testing.assert_array_equal(result.prediction, calibrated.predict(X))


def test_prediction_intervals_make_a_frame(calibrated: Regressor) -> None:
    X = make_table(6, seed=5).drop(columns="y").set_index(pd.Index(list("abcdef")))
    result = calibrated.predict(X, interval=0.8)
    assert len(result) == 6
    assert result.level == 0.8
    frame = result.to_frame(index=X.index)
    assert list(frame.columns) == ["prediction", "lower", "upper"]
    assert list(frame.index) == list("abcdef")
    np.testing.assert_array_equal(frame["lower"].to_numpy(), result.lower)


def test_predict_with_details_carries_the_bounds(calibrated: Regressor) -> None:
    X = make_table(5, seed=6).drop(columns="y")
    plain = calibrated.predict_with_details(X)
    assert plain.lower is None
    assert plain.upper is None
    assert plain.level is None
    details = calibrated.predict_with_details(X, interval=0.9)
    intervals = calibrated.predict(X, interval=0.9)
    assert details.level == 0.9
    assert details.lower is not None
    assert details.upper is not None
    np.testing.assert_array_equal(details.lower, intervals.lower)
    np.testing.assert_array_equal(details.upper, intervals.upper)


# ------------------------------------------------------------------------ conformal rank
def test_the_conformal_quantile_is_the_finite_sample_rank() -> None:
    calibration = ConformalCalibration.from_residuals(np.arange(19.0, -1.0, -1.0))  # 0..19
    assert calibration.n_rows == 20
    assert calibration.quantile(0.5) == 10.0  # ceil(21 * 0.5) = 11th smallest
    assert calibration.quantile(0.9) == 18.0  # ceil(21 * 0.9) = 19th smallest
    assert calibration.quantile(20 / 21) == 19.0  # the highest level: the largest residual
    assert calibration.max_level == pytest.approx(20 / 21)


def test_a_level_too_high_for_the_calibration_rows_is_refused(calibrated: Regressor) -> None:
    X = make_table(3, seed=7).drop(columns="y")
    calibrated.predict(X, interval=0.997)  # 450 / 451 = 0.9978 is the highest
    with pytest.raises(ConfigError, match=r"needs at least 999 calibration rows.*450"):
        calibrated.predict(X, interval=0.999)
    with pytest.raises(ConfigError, match=r"at most 0\.9977"):
        ConformalCalibration.from_residuals(np.ones(450)).quantile(0.999)


def test_many_residuals_are_subsampled_without_narrowing() -> None:
    residuals = np.random.default_rng(0).exponential(size=25_001)
    calibration = ConformalCalibration.from_residuals(residuals)
    assert len(calibration.residuals) == MAX_RESIDUALS
    assert calibration.n_rows == 25_001
    ordered = np.sort(residuals)
    assert calibration.residuals[0] == ordered[0]
    assert calibration.residuals[-1] == ordered[-1]
    for level in (0.1, 0.5, 0.9, 0.99, 0.9999):
        rank = math.ceil(25_002 * level)
        exact = ordered[rank - 1]
        # never narrower than the exact quantile, and at most one stored step (2.5 ranks) wider
        assert exact <= calibration.quantile(level) <= ordered[min(rank + 2, 25_000)]


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("level", [0, 1, 0.0, 1.0, -0.1, 1.5, float("nan"), "0.9", True, None])
def test_levels_outside_zero_one_are_a_config_error(calibrated: Regressor, level: Any) -> None:
    X = make_table(3, seed=8).drop(columns="y")
    if level is None:  # None is no interval at all
        assert isinstance(calibrated.predict(X, interval=level), np.ndarray)
        return
    with pytest.raises(ConfigError, match="between 0 and 1"):
        calibrated.predict(X, interval=level)


def test_a_model_without_held_out_rows_has_no_intervals() -> None:
    X, y = _features_target(make_table(200, seed=9))
    model = Regressor(**SMALL | {"max_epochs": 3}, patience=None).fit(X, y)
    assert model.calibration_ is None
    assert model.predict(X).shape == (200,)
    with pytest.raises(ConfigError, match="no prediction intervals"):
        model.predict(X, interval=0.9)
    with pytest.raises(ConfigError, match="no prediction intervals"):
        model.predict_with_details(X, interval=0.9)


def test_an_unfitted_model_is_not_fitted() -> None:
    with pytest.raises(deepfit.NotFittedError):
        Regressor().predict(np.zeros((2, 2)), interval=0.9)


# ------------------------------------------------------------------------------- saving
def test_save_and_load_give_identical_bounds(
    calibrated: Regressor, fresh: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X = fresh[0].iloc[:200]
    loaded = deepfit.load(calibrated.save(tmp_path / "m.deepfit"))
    assert loaded.calibration_ is not None
    assert calibrated.calibration_ is not None
    np.testing.assert_array_equal(loaded.calibration_.residuals, calibrated.calibration_.residuals)
    for level in (0.5, 0.9):
        before = calibrated.predict(X, interval=level)
        after = loaded.predict(X, interval=level)
        np.testing.assert_array_equal(after.lower, before.lower)
        np.testing.assert_array_equal(after.upper, before.upper)
    with zipfile.ZipFile(tmp_path / "m.deepfit") as archive:
        assert len(archive.namelist()) == 4  # inside metadata.json, no new member


def _rewrite_metadata(source: Path, target: Path, change: Any) -> Path:
    """A copy of the model at ``source`` whose metadata went through ``change``."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members["metadata.json"])
    change(metadata)
    members["metadata.json"] = json.dumps(metadata).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    target.write_bytes(buffer.getvalue())
    return target


def test_a_file_without_calibration_loads_without_intervals(
    calibrated: Regressor, tmp_path: Path
) -> None:
    saved = calibrated.save(tmp_path / "m.deepfit")
    old = _rewrite_metadata(saved, tmp_path / "old.deepfit", lambda m: m.pop("calibration"))
    model = deepfit.load(old)
    assert model.calibration_ is None
    X = make_table(4, seed=12).drop(columns="y")
    np.testing.assert_array_equal(model.predict(X), calibrated.predict(X))
    with pytest.raises(ConfigError, match="no prediction intervals"):
        model.predict(X, interval=0.9)


@pytest.mark.parametrize(
    "calibration",
    [
        "residuals",
        {"method": "split_conformal", "n_rows": 3, "residuals": [0.1, 0.3, 0.2]},  # unsorted
        {"method": "split_conformal", "n_rows": 2, "residuals": [-0.1, 0.2]},  # negative
        {"method": "split_conformal", "n_rows": 2, "residuals": [0.1, "0.2"]},
        {"method": "split_conformal", "n_rows": 1, "residuals": [0.1, 0.2]},  # too many
        {"method": "split_conformal", "n_rows": 0, "residuals": []},
        {"method": "split_conformal", "n_rows": 2, "residuals": [0.1, None]},
        {"method": "quantile", "n_rows": 1, "residuals": [0.1]},
    ],
)
def test_malformed_calibration_is_an_artifact_error(
    calibrated: Regressor, tmp_path: Path, calibration: Any
) -> None:
    saved = calibrated.save(tmp_path / "m.deepfit")
    bad = _rewrite_metadata(
        saved, tmp_path / "bad.deepfit", lambda m: m.update(calibration=calibration)
    )
    with pytest.raises(ArtifactError, match="malformed metadata"):
        deepfit.load(bad)
