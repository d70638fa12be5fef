"""``Regressor(n_ensemble=K, bootstrap=...)``: training, predicting, spread, saving and use."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import deepfit.estimator.training
from deepfit import Regressor, load
from deepfit.cli import app
from deepfit.errors import ConfigError
from deepfit.estimator.training import time_share
from deepfit.explain import explain
from deepfit.export import export_onnx, onnx_feed
from deepfit.models.ensemble import EnsembleNetwork
from deepfit.serve import create_app
from deepfit.training.loop import predict
from deepfit.training.sources import InMemorySource
from deepfit.training.state import TrainState
from tests.support.tables import FAST, make_table

SETTINGS: dict[str, Any] = {**FAST, "hidden_layers": (16, 16), "max_epochs": 30}


def noisy(n_rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """``make_table`` with much more noise, so single networks overfit it differently."""
    frame = make_table(n_rows, seed=seed)
    noise = np.random.default_rng(seed + 100).normal(scale=15.0, size=n_rows)
    return frame.drop(columns="y"), frame["y"] + noise


@pytest.fixture(scope="module")
def ensemble() -> tuple[Regressor, pd.DataFrame, pd.Series]:
    """An ensemble of 3, fitted on 300 noisy rows with 80 given validation rows (a few s)."""
    X, y = noisy(300, seed=0)
    X_val, y_val = noisy(80, seed=2)
    model = Regressor(**SETTINGS, n_ensemble=3).fit(X, y, X_val=X_val, y_val=y_val)
    return model, X_val, y_val


def member_predictions(model: Regressor, X: pd.DataFrame) -> np.ndarray:
    """Every member's predictions in the target's units, shape [members, rows]."""
    features = model.preprocessor_.transform(X)
    inputs = InMemorySource(
        {
            "numeric": torch.tensor(features.numeric),
            "categorical": torch.tensor(features.categorical),
        }
    )
    network = model.network_
    assert isinstance(network, EnsembleNetwork)
    return np.stack([network.head(predict(m, inputs)).numpy() for m in network.members])


def test_prediction_is_the_mean_of_the_members(ensemble: tuple) -> None:
    model, _, _ = ensemble
    X, _ = noisy(50, seed=1)
    members = member_predictions(model, X)
    assert members.shape == (3, 50)
    np.testing.assert_allclose(model.predict(X), members.mean(axis=0), rtol=1e-6)


def test_members_differ_and_are_summarised(ensemble: tuple) -> None:
    model, _, _ = ensemble
    members = member_predictions(model, noisy(50, seed=1)[0])
    assert np.abs(members[0] - members[1]).max() > 1e-3
    assert np.abs(members[1] - members[2]).max() > 1e-3
    summary = model.training_summary_
    assert len(summary["members"]) == 3
    assert set(summary["members"][0]) == {"epochs", "best_epoch", "best_validation_loss", "seconds"}
    assert len(model.history_) == summary["members"][0]["epochs"] == summary["epochs"]
    assert model.settings_["n_ensemble"] == 3


def test_spread_is_zero_for_one_network_and_positive_for_three(
    ensemble: tuple, fitted: Regressor
) -> None:
    model, _, _ = ensemble
    X, _ = noisy(50, seed=1)
    spread = model.predict_spread(X)
    assert (spread > 0).all()
    np.testing.assert_allclose(spread, member_predictions(model, X).std(axis=0), rtol=1e-4)
    details = model.predict_with_details(X, interval=0.8, spread=True)
    np.testing.assert_array_equal(details.spread, spread)
    assert model.predict_with_details(X).spread is None
    single = fitted.predict_spread(make_table(20, seed=3).drop(columns="y"))
    np.testing.assert_array_equal(single, np.zeros(20))


def test_ensemble_is_not_worse_than_its_average_member(ensemble: tuple) -> None:
    model, _, _ = ensemble
    X, y = noisy(400, seed=1)  # held out: none of these rows was seen in training
    truth = y.to_numpy()
    member_mse = ((member_predictions(model, X) - truth) ** 2).mean(axis=1)
    ensemble_mse = float(((model.predict(X) - truth) ** 2).mean())
    # the mean's squared error never exceeds the members' mean squared error (convexity) ...
    assert ensemble_mse <= member_mse.mean() * (1 + 1e-9)
    # ... and on this noisy data it also beats the average member's RMSE
    assert np.sqrt(ensemble_mse) <= np.sqrt(member_mse).mean() * 1.005


def test_intervals_are_calibrated_on_the_ensembles_residuals(ensemble: tuple) -> None:
    model, X_val, y_val = ensemble
    residuals = np.sort(np.abs(y_val.to_numpy() - model.predict(X_val)))
    np.testing.assert_allclose(model.calibration_.residuals, residuals, rtol=1e-9)


def test_bootstrap_changes_the_members_training_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[np.ndarray] = []
    real_train = deepfit.estimator.training.train

    def recording(network: Any, data: InMemorySource, *args: Any) -> TrainState:
        seen.append(data.tensors["target"].cpu().numpy().copy())
        return real_train(network, data, *args)

    monkeypatch.setattr(deepfit.estimator.training, "train", recording)
    X, y = noisy(120, seed=0)
    settings = {**SETTINGS, "max_epochs": 1, "n_ensemble": 3}
    Regressor(**settings).fit(X, y)
    assert len(seen) == 3
    assert all(np.array_equal(seen[0], rows) for rows in seen)
    every_row = np.sort(seen[0])
    seen.clear()
    Regressor(**settings, bootstrap=True).fit(X, y)
    assert len(seen) == 3
    assert not np.array_equal(seen[0], seen[1])
    assert not np.array_equal(seen[1], seen[2])
    for rows in seen:
        assert len(rows) == len(every_row)
        assert len(np.unique(rows)) < len(rows)  # drawn with replacement
        assert not np.array_equal(np.sort(rows), every_row)
    first = seen[0]
    seen.clear()
    Regressor(**settings, bootstrap=True).fit(X, y)
    assert np.array_equal(first, seen[0])  # seeded: the same resamples again


def test_time_limit_is_shared_by_the_members() -> None:
    run = SimpleNamespace(settings={"n_ensemble": 3, "time_limit": 9.0})
    assert time_share(run, []) == pytest.approx(3.0)  # type: ignore[arg-type]
    done = [TrainState(max_epochs=1, seconds=5.0)]
    assert time_share(run, done) == pytest.approx(2.0)  # type: ignore[arg-type]
    run.settings["time_limit"] = None
    assert time_share(run, []) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"n_ensemble": 0}, "n_ensemble must be a positive integer"),
        ({"n_ensemble": 2.5}, "n_ensemble must be a positive integer"),
        ({"bootstrap": "yes"}, "bootstrap must be True or False"),
        ({"n_ensemble": 2, "checkpoint_dir": "ckpt"}, "checkpoints save one network"),
        ({"n_ensemble": 2, "init_from": "old.deepfit"}, "init_from fine-tunes one saved"),
    ],
)
def test_bad_settings_are_refused(params: dict[str, Any], words: str) -> None:
    X, y = noisy(20, seed=0)
    with pytest.raises(ConfigError, match=words):
        Regressor(**params).fit(X, y)


def test_save_and_load_round_trip(ensemble: tuple, tmp_path: Path) -> None:
    model, _, _ = ensemble
    X, _ = noisy(50, seed=1)
    loaded = load(model.save(tmp_path / "ensemble.deepfit"))
    assert isinstance(loaded.network_, EnsembleNetwork)
    assert loaded.network_.size == 3
    assert loaded.get_params()["n_ensemble"] == 3
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_spread(X), model.predict_spread(X))
    assert loaded.training_summary_["members"] == json.loads(
        json.dumps(model.training_summary_["members"])
    )
    np.testing.assert_array_equal(loaded.calibration_.residuals, model.calibration_.residuals)


def test_serving_an_ensemble(ensemble: tuple) -> None:
    model, _, _ = ensemble
    rows = make_table(20, seed=1).drop(columns="y")
    client = TestClient(create_app(model))
    assert client.get("/health").json()["backend"] == "onnx"  # exported and agreed with torch
    answer = client.post("/predict", json=json.loads(rows.to_json(orient="records")))
    assert answer.status_code == 200
    expected = model.predict(rows)
    np.testing.assert_allclose(
        answer.json()["predictions"], expected, atol=1e-6 * np.abs(expected).max()
    )


def test_onnx_export_of_an_ensemble(ensemble: tuple, tmp_path: Path) -> None:
    model, _, _ = ensemble
    rows = make_table(30, seed=4).drop(columns="y")
    path = export_onnx(model, tmp_path / "ensemble.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    output = np.asarray(session.run(None, onnx_feed(session, rows))[0]).ravel()
    expected = model.predict(rows)
    np.testing.assert_allclose(output, expected, atol=1e-5 * np.abs(expected).max())


def test_explaining_an_ensemble(ensemble: tuple) -> None:
    model, _, _ = ensemble
    X, y = noisy(60, seed=1)
    result = explain(model, X, y, n_repeats=1, top=1, rows=20)
    np.testing.assert_allclose(result.predictions, model.predict(result.rows), rtol=1e-5)
    completeness = result.attributions.sum(axis=1) + result.baseline_prediction
    np.testing.assert_allclose(completeness, result.predictions, atol=0.05 * float(y.std()))
    assert set(result.attributions.columns) == set(X.columns)


def test_cli_trains_an_ensemble(tmp_path: Path) -> None:
    data, out = tmp_path / "data.csv", tmp_path / "ensemble.deepfit"
    make_table(120).to_csv(data, index=False)
    common = ["train", str(data), "--target", "y", "--out", str(out), "--max-epochs", "2"]
    common += ["--model", "mlp", "--hidden-layers", "8", "--no-baselines", "--quiet"]
    result = CliRunner().invoke(app, [*common, "--ensemble", "2", "--bootstrap"])
    assert result.exit_code == 0, result.output
    model = load(out)
    assert isinstance(model.network_, EnsembleNetwork)
    assert model.network_.size == 2
    assert model.get_params()["bootstrap"] is True
    refused = CliRunner().invoke(
        app, [*common, "--force", "--ensemble", "2", "--checkpoint-dir", str(tmp_path / "c")]
    )
    assert refused.exit_code == 1
    assert "error: checkpoints save one network" in refused.output
