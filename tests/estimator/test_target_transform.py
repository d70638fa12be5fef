"""target_transform: "log" learns the logarithm of a positive, skewed target; "log_link" learns
it but scores it in the target's units and as a log, and is auto's choice for a positive,
right-skewed target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfit import Regressor, load
from deepfit.data.target import skewed_positive
from deepfit.errors import DataError
from deepfit.export import export_onnx, onnx_feed, onnx_predict, onnx_session
from deepfit.tasks.regression import RegressionTask

SETTINGS = {
    "model": "mlp",
    "hidden_layers": (32, 32),
    "max_epochs": 60,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "time_limit": None,
    "random_state": 0,
}


def _prices(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A price that grows multiplicatively: 50 to about 50,000, with 10% noise."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0, 3, n)
    grade = rng.choice(["a", "b", "c"], n)
    log_price = np.log(50) + 2.3 * size + pd.Series(grade).map({"a": 0.0, "b": 0.3, "c": 0.6})
    price = np.exp(log_price.to_numpy() + rng.normal(scale=0.1, size=n))
    return pd.DataFrame({"size": size, "grade": grade}), price


def test_the_task_encodes_the_log_and_answers_in_units() -> None:
    task = RegressionTask(transform="log")
    y = np.array([10.0, 100.0, 1000.0])
    task.fit(y)
    encoded = task.encode(y).numpy()
    assert encoded.tolist() == pytest.approx([-1.2247, 0.0, 1.2247], abs=1e-4)
    import torch

    assert task.head()(torch.tensor(encoded)).numpy() == pytest.approx(y, rel=1e-6)
    restored = RegressionTask.from_dict(task.to_dict())
    assert restored.transform == "log"
    assert "target_transform" not in RegressionTask().to_dict()  # files load as before


def test_a_target_that_is_not_positive_is_refused() -> None:
    X, y = _prices(100)
    y[7] = 0.0
    with pytest.raises(DataError, match=r"positive target, but row 8 holds 0"):
        Regressor(**SETTINGS, target_transform="log").fit(X, y)


def test_log_lowers_the_relative_error_of_a_multiplicative_target(tmp_path: Path) -> None:
    X, y = _prices()
    X_test, y_test = _prices(300, seed=1)
    raw = Regressor(**SETTINGS).fit(X, y)
    logged = Regressor(**SETTINGS, target_transform="log").fit(X, y)

    def mape(model: Regressor) -> float:
        return float(np.mean(np.abs(model.predict(X_test) - y_test) / y_test))

    assert mape(logged) < 0.5 * mape(raw)
    assert (logged.predict(X_test) > 0).all()
    path = logged.save(tmp_path / "price.deepfit")
    np.testing.assert_allclose(load(path).predict(X_test), logged.predict(X_test), rtol=1e-6)
    graph = export_onnx(logged, tmp_path / "price.onnx")
    session = onnx_session(graph)
    from_graph = onnx_predict(session, onnx_feed(session, X_test))
    np.testing.assert_allclose(from_graph, logged.predict(X_test), rtol=1e-4)


def test_the_cli_takes_the_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from deepfit.cli import app

    X, y = _prices(300)
    data = tmp_path / "prices.csv"
    X.assign(price=y).to_csv(data, index=False)
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(data),
            "--target",
            "price",
            "--model",
            "mlp",
            "--max-epochs",
            "5",
            "--target-transform",
            "log",
            "--out",
            str(tmp_path / "m.deepfit"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert load(tmp_path / "m.deepfit").task_.transform == "log"


def test_only_a_positive_right_skewed_target_that_the_log_evens_counts_as_skewed() -> None:
    _, prices = _prices()
    assert skewed_positive(prices)
    assert not skewed_positive(np.log(prices))  # about uniform: no skew
    assert not skewed_positive(np.append(prices, -1.0))  # one value below zero
    assert not skewed_positive(np.full(50, 3.0))
    assert not skewed_positive(-prices)
    assert skewed_positive(prices, also=prices[:10])
    assert not skewed_positive(prices, also=np.array([5.0, 0.0]))  # a validation row at 0
    rng = np.random.default_rng(0)
    assert skewed_positive(rng.gamma(4.0, size=2000))  # skewness 1: the log evens it
    assert not skewed_positive(rng.gamma(100.0, size=2000))  # skewness 0.2: not skewed
    left = 30.0 - rng.gamma(2.0, size=2000)  # positive, skewed to the left
    assert not skewed_positive(left)
    # skewed to the right, but its log is skewed further to the left: values near 0
    lopsided = np.concatenate([np.full(1000, 1.0), np.full(200, 3.0), np.full(5, 1e-6)])
    assert not skewed_positive(lopsided)


def test_auto_links_the_log_of_a_skewed_price_and_scores_it_in_units() -> None:
    X, y = _prices()
    X_val, y_val = _prices(200, seed=2)
    settings = {**SETTINGS, "model": "auto", "hidden_layers": (32,), "max_epochs": 8}
    model = Regressor(**settings).fit(X, y, X_val=X_val, y_val=y_val)
    assert model.settings_["target_transform"] == "log_link"
    assert model.training_summary_["auto"]["target_transform"] == "log_link"
    assert model.task_.transform == "log_link"
    # the validation loss it stopped on: the squared error in the target's units, plus that of
    # the standardised log
    predicted = model.predict(X_val)
    in_units = float(np.mean((predicted - y_val) ** 2)) / model.task_.answer_scale**2
    in_logs = float(np.mean((np.log(predicted) - np.log(y_val)) ** 2))
    expected = in_units + in_logs / model.task_.scaler.std**2
    assert model.training_summary_["best_validation_loss"] == pytest.approx(expected, rel=1e-3)
    assert Regressor(**settings, target_transform="none").fit(X, y).task_.transform == "none"
    unskewed = Regressor(**settings).fit(X, np.log(y))
    assert unskewed.settings_["target_transform"] == "none"
    y_val[3] = 0.0  # the validation rows could not be scored in logs
    with_zero = Regressor(**settings).fit(X, y, X_val=X_val, y_val=y_val)
    assert with_zero.settings_["target_transform"] == "none"


def test_a_linked_model_round_trips_and_exports(tmp_path: Path) -> None:
    X, y = _prices(300)
    model = Regressor(**{**SETTINGS, "max_epochs": 10}, target_transform="log_link").fit(X, y)
    assert (model.predict(X) > 0).all()
    restored = load(model.save(tmp_path / "linked.deepfit"))
    assert restored.task_.transform == "log_link"
    np.testing.assert_allclose(restored.predict(X), model.predict(X), rtol=1e-6)
    session = onnx_session(export_onnx(model, tmp_path / "linked.onnx"))
    np.testing.assert_allclose(
        onnx_predict(session, onnx_feed(session, X)), model.predict(X), rtol=1e-4
    )
