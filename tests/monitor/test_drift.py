"""Drift measures: PSI, its thresholds, and readings that say what moved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepfit.data.preprocess import TabularPreprocessor
from deepfit.data.schema import infer_schema
from deepfit.monitor import build_reference, measure_drift, psi, verdict
from deepfit.monitor.drift import DRIFT, FINE, WATCHING, status_of
from deepfit.monitor.verdict import RETRAIN, Performance
from tests.support.tables import make_table


def test_psi_is_zero_for_equal_shares_and_finite_for_empty_bins() -> None:
    assert psi(np.array([0.2, 0.8]), np.array([0.2, 0.8])) == 0
    assert np.isfinite(psi(np.array([0.0, 1.0]), np.array([0.5, 0.5])))
    assert [status_of(v) for v in (0.05, 0.1, 0.2, 0.3)] == [FINE, WATCHING, WATCHING, DRIFT]


@pytest.fixture(scope="module")
def training() -> tuple[TabularPreprocessor, object]:
    frame = make_table(4000, seed=0).drop(columns="y")
    prep = TabularPreprocessor(infer_schema(frame)).fit(frame)
    answers = frame["x1"].to_numpy() * 3.0
    return prep, build_reference(prep, prep.transform(frame), answers)


def new_rows(seed: int = 1) -> pd.DataFrame:
    return make_table(2000, seed=seed).drop(columns="y")


def test_rows_from_the_training_distribution_are_fine(training) -> None:
    prep, reference = training
    rows = new_rows()
    drifts = measure_drift(reference, prep, rows, rows["x1"].to_numpy() * 3.0)
    assert all(d.status == FINE for d in drifts), [d.reading for d in drifts]
    assert {d.feature for d in drifts} == {"x1", "x2", "colour", "flag", "prediction"}


def test_a_shifted_feature_comes_first_and_says_where_its_rows_went(training) -> None:
    prep, reference = training
    rows = new_rows()
    rows["x1"] = rows["x1"] + 4.0  # beyond the training maximum for most rows
    drifts = measure_drift(reference, prep, rows, rows["x1"].to_numpy() * 3.0)
    worst = drifts[0]
    assert worst.feature in ("x1", "prediction")
    assert worst.status == DRIFT
    x1 = next(d for d in drifts if d.feature == "x1")
    assert "above the training maximum" in x1.reading
    assert x1.reading.startswith("x1: PSI ")
    assert ", drifted: " in x1.reading
    assert all(d.status == FINE for d in drifts if d.feature not in ("x1", "prediction"))
    assert [d.value for d in drifts] == sorted((d.value for d in drifts), reverse=True)


def test_unseen_categories_and_missing_values_are_named(training) -> None:
    prep, reference = training
    rows = new_rows()
    rows.loc[: len(rows) // 2, "colour"] = "purple"
    rows.loc[: len(rows) // 2, "x2"] = np.nan
    drifts = {d.feature: d for d in measure_drift(reference, prep, rows)}
    assert "unseen in training" in drifts["colour"].reading
    assert drifts["colour"].unseen == pytest.approx(0.5, abs=0.01)
    assert "missing" in drifts["x2"].reading
    assert "prediction" not in drifts  # no answers given: the predictions are not measured


def test_the_verdict_follows_drift_and_performance() -> None:
    assert verdict([]).status == FINE
    worse = Performance("rmse", "RMSE", False, now={"rmse": 1.3}, at_training={"rmse": 1.0})
    decided = verdict([], worse)
    assert decided.status == RETRAIN
    assert "30% worse" in decided.reasons[0]
    same = Performance("rmse", "RMSE", False, now={"rmse": 1.05}, at_training={"rmse": 1.0})
    assert verdict([], same).status == FINE
    beaten = Performance(
        "rmse", "RMSE", False, now={"rmse": 1.05}, at_training={"rmse": 1.0}, baselines={"mean": 1}
    )
    assert verdict([], beaten).status == WATCHING


def test_a_drifted_feature_with_still_predictions_is_to_watch(training) -> None:
    prep, reference = training
    rows = new_rows()
    rows["x2"] = rows["x2"] + 3.0  # the answers below ignore x2
    drifts = measure_drift(reference, prep, rows, rows["x1"].to_numpy() * 3.0)
    decided = verdict(drifts)
    assert decided.status == WATCHING
    assert "the predictions have not moved" in decided.reasons[0]
    rows["x1"] = rows["x1"] + 3.0
    assert verdict(measure_drift(reference, prep, rows, rows["x1"].to_numpy() * 3.0)).status == (
        RETRAIN
    )


def test_small_and_large_batches_fall_in_the_same_bins(training, monkeypatch) -> None:
    from deepfit.monitor import drift

    prep, reference = training
    rows = new_rows()
    rows.loc[::7, "x2"] = np.nan
    features = prep.transform(rows)
    bins = drift.DriftBins(reference, prep)
    broadcast = bins.count_rows(features, rows["x1"].to_numpy())
    monkeypatch.setattr(drift, "BROADCAST_CELLS", 0)
    searched = bins.count_rows(features, rows["x1"].to_numpy())
    assert np.array_equal(broadcast, searched)
    one_by_one = sum(
        bins.count(features.numeric[i : i + 1], features.categorical[i : i + 1]) for i in range(50)
    )
    assert np.array_equal(one_by_one, bins.count(features.numeric[:50], features.categorical[:50]))
