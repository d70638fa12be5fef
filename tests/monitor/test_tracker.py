"""The server's drift tracker: a rolling window of served rows against the training data."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from deepfit.data.preprocess import TabularPreprocessor
from deepfit.data.schema import infer_schema
from deepfit.monitor import Reference, build_reference
from deepfit.serve.drift import NOT_ENOUGH, DriftTracker
from deepfit.serve.features import FeatureSchema

NUMERIC = [f"x{i}" for i in range(6)]


def eight_features(rows: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Six numeric and two categorical features; ``shift`` moves x3 only."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in NUMERIC})
    frame["x3"] += shift
    frame["shop"] = rng.choice(["north", "south", "east", "west"], size=rows)
    frame["tier"] = rng.choice(["gold", "silver"], size=rows, p=[0.3, 0.7])
    return frame


def answers_of(frame: pd.DataFrame) -> np.ndarray:
    return frame[NUMERIC[:3]].sum(axis=1).to_numpy()  # the model ignores x3


@pytest.fixture(scope="module")
def model() -> tuple[FeatureSchema, Reference]:
    frame = eight_features(5000, seed=0)
    prep = TabularPreprocessor(infer_schema(frame)).fit(frame)
    reference = build_reference(prep, prep.transform(frame), answers_of(frame))
    return FeatureSchema(prep), reference


def columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    return {name: frame[name].tolist() for name in frame.columns}


def serve(tracker: DriftTracker, schema: FeatureSchema, frame: pd.DataFrame, batch: int) -> None:
    for start in range(0, len(frame), batch):
        part = frame.iloc[start : start + batch]
        tracker.observe(schema.encode(columns(part)), answers_of(part))


def test_a_shifted_feature_rises_above_the_threshold_and_comes_first(model) -> None:
    schema, reference = model
    tracker = DriftTracker(reference, schema, window=2000)
    serve(tracker, schema, eight_features(3000, seed=1, shift=1.5), batch=50)
    report = tracker.report()
    first, *others = report["features"]
    assert first["feature"] == "x3"
    assert first["value"] > first["threshold"] == 0.25
    assert first["status"] == "drifted"
    assert first["measure"] == "psi"
    assert all(entry["value"] < 0.1 for entry in others), others
    assert report["prediction"]["value"] < 0.1  # the model ignores x3
    assert report["status"] == "drifted"
    assert 2000 <= report["window_rows"] <= 2200
    assert report["rows_seen"] == 3000


def test_the_window_forgets_old_traffic(model) -> None:
    schema, reference = model
    tracker = DriftTracker(reference, schema, window=2000)
    serve(tracker, schema, eight_features(2000, seed=2, shift=1.5), batch=100)
    serve(tracker, schema, eight_features(2500, seed=3), batch=100)
    assert all(entry["status"] == "fine" for entry in tracker.report()["features"])


def test_few_rows_are_not_enough_for_a_report(model) -> None:
    schema, reference = model
    tracker = DriftTracker(reference, schema, window=2000, min_rows=500)
    serve(tracker, schema, eight_features(300, seed=4, shift=3.0), batch=1)
    report = tracker.report()
    assert report["status"] == NOT_ENOUGH
    assert report["features"] == []
    assert "300 of the 500" in report["message"]
    assert tracker.gauge_lines()[-1] == "deepfit_drift_window_rows 300"


def test_gauge_lines_are_prometheus_text(model) -> None:
    schema, reference = model
    tracker = DriftTracker(reference, schema, window=1000)
    serve(tracker, schema, eight_features(1000, seed=5, shift=1.5), batch=250)
    lines = tracker.gauge_lines()
    sample = re.compile(r'^deepfit_\w+(\{(\w+="[^"]*",?)+\})? [0-9.e+-]+$')
    for line in lines:
        assert line.startswith("# ") or sample.match(line), line
    x3 = next(line for line in lines if 'feature="x3"' in line)
    assert x3.startswith('deepfit_feature_drift{feature="x3",measure="psi"} ')
    assert float(x3.split()[-1]) > 0.25
    assert any(line.startswith('deepfit_prediction_drift{measure="psi"} ') for line in lines)


def test_a_classifier_tracks_the_share_of_each_predicted_class(model) -> None:
    schema, _ = model
    frame = eight_features(3000, seed=6)
    probabilities = np.column_stack([np.full(3000, 0.7), np.full(3000, 0.3)])
    prep = schema.preprocessor
    reference = build_reference(
        prep, prep.transform(frame), probabilities, classes=["no", "yes"], split="validation"
    )
    tracker = DriftTracker(reference, schema, window=1000)
    served = eight_features(1000, seed=7)
    flipped = probabilities[:1000, ::-1]  # every row now predicted "yes"
    tracker.observe(schema.encode(columns(served)), flipped)
    prediction = tracker.report()["prediction"]
    assert prediction["status"] == "drifted"
    assert "'yes' predicted for 100% of rows" in prediction["reading"]


def test_a_loaded_model_gives_its_tracker_and_an_old_one_none(tmp_path) -> None:
    import deepfit
    from deepfit import Regressor
    from deepfit.serve.drift import tracker_for

    frame = eight_features(400, seed=8)
    model = Regressor(model="mlp", hidden_layers=(8,), max_epochs=2).fit(frame, answers_of(frame))
    loaded = deepfit.load(model.save(tmp_path / "m.deepfit"))
    schema = FeatureSchema(loaded.preprocessor_)
    tracker = tracker_for(loaded, schema, window=1000)
    assert tracker is not None
    rows = eight_features(600, seed=9)
    batch = schema.encode(columns(rows))
    tracker.observe(batch, loaded.answers(batch.features))
    assert {entry["feature"] for entry in tracker.report()["features"]} == set(rows.columns)
    loaded.reference_ = None
    assert tracker_for(loaded, schema) is None
