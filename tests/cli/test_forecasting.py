"""``deepfit train --time``, ``predict``, ``evaluate``, ``info`` and ``backtest`` on series."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.support.cli import assert_one_line_error, invoke
from tests.support.series import make_series

FAST = ("--lookback", "24", "--hidden", "32", "--max-epochs", "8", "--time-limit", "none")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("series")
    frame = make_series(300, series=2)
    paths = {name: folder / f"{name}.csv" for name in ("all", "history", "future")}
    frame.to_csv(paths["all"], index=False)
    frame.groupby("id").head(290).to_csv(paths["history"], index=False)
    future = frame.groupby("id").nth(list(range(290, 296)))[["id", "timestamp", "temperature"]]
    future.to_csv(paths["future"], index=False)
    model = folder / "load.deepfit"
    result = invoke(
        "train", paths["all"], "--target", "load", "--time", "timestamp", "--series", "id",
        "--known", "temperature", "--horizon", "6", *FAST, "--out", model, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    paths["model"] = model
    paths["train_output"] = folder / "train.txt"
    paths["train_output"].write_text(result.stdout)
    return paths


def test_train_prints_the_setup_and_validation_metrics_beside_baselines(
    files: dict[str, Path],
) -> None:
    text = files["train_output"].read_text()
    assert "forecasting 'load' 6 steps of h ahead from 24 steps of history; 2 series" in text
    assert "known in advance: temperature, day_sin" in text
    assert "past only: sensor" in text
    assert "seasonal_naive" in text
    assert "saved model to" in text


def test_predict_writes_the_forecast_after_the_history(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "forecast.csv"
    result = invoke(
        "predict", files["model"], files["history"], "--future", files["future"],
        "--interval", "0.9", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(out)
    assert list(forecast.columns) == [
        "id",
        "timestamp",
        "predicted_load",
        "lower_load",
        "upper_load",
    ]
    assert len(forecast) == 12
    assert (forecast["lower_load"] < forecast["upper_load"]).all()


def test_predict_without_the_known_covariates_names_them(files: dict[str, Path]) -> None:
    result = invoke("predict", files["model"], files["history"])
    assert_one_line_error(result, "temperature", "--future")


def test_evaluate_scores_the_last_origins_beside_baselines(files: dict[str, Path]) -> None:
    result = invoke("evaluate", files["model"], files["all"], "--windows", "3", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document["metrics"]) >= {"deepfit", "naive", "seasonal_naive"}
    assert len(document["metrics"]["deepfit"]["by_step"]["mae"]) == 6


def test_info_describes_a_forecaster(files: dict[str, Path]) -> None:
    result = invoke("info", files["model"])
    assert result.exit_code == 0, result.output
    assert "forecasting" in result.stdout
    document = json.loads(invoke("info", files["model"], "--json").stdout)
    assert document["task"] == "forecasting"
    assert document["settings"]["horizon"] == 6


def test_train_takes_the_precision_of_its_steps(tmp_path: Path) -> None:
    data, model = tmp_path / "s.csv", tmp_path / "bf16.deepfit"
    make_series(200).to_csv(data, index=False)
    result = invoke(
        "train", data, "--target", "load", "--time", "timestamp", "--horizon", "6", *FAST,
        "--precision", "bf16", "--out", model, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(invoke("info", model, "--json").stdout)
    assert document["settings"]["precision"] == "bf16"
    assert document["training"]["precision"] == "bf16"  # what the steps ran in


def test_backtest_writes_forecasts_and_metrics(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "bt"
    result = invoke(
        "backtest", files["all"], "--target", "load", "--time", "timestamp", "--series", "id",
        "--known", "temperature", "--horizon", "6", *FAST, "--windows", "4", "--out", out,
        "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "lightgbm_lags" in result.stdout
    forecasts = pd.read_csv(out / "forecasts.csv")
    assert len(forecasts) == 2 * 4 * 6
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["coverage"] <= 1.0


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--horizon", "0"), ("--horizon must be",)),
        (("--horizon", "6", "--windows", "60"), ("lower --windows",)),
        (("--hidden-layers", "8"), ("--hidden-layers applies to table models",)),
    ],
)
def test_backtest_bad_input_is_one_line(
    files: dict[str, Path], args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    base = ("backtest", files["all"], "--target", "load", "--time", "timestamp", "--series", "id")
    assert_one_line_error(invoke(*base, *FAST, *args, "--quiet"), *fragments)


def test_forecast_options_without_time_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    make_series(50).to_csv(data, index=False)
    result = invoke("train", data, "--target", "load", "--horizon", "6", "--out", tmp_path / "m")
    assert_one_line_error(result, "--horizon needs --time")


def test_text_columns_without_a_role_are_named_in_a_note(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    make_series(120).assign(comment="checked").to_csv(data, index=False)
    result = invoke(
        "train", data, "--target", "load", "--time", "timestamp", "--horizon", "6",
        "--lookback", "24", "--hidden", "8", "--max-epochs", "1", "--out", tmp_path / "m",
        "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "note: column(s) comment are not numbers" in " ".join(result.stdout.split())


def test_a_time_column_that_does_not_parse_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    frame = make_series(50)
    frame["timestamp"] = frame["timestamp"].astype(str)
    frame.loc[7, "timestamp"] = "yesterday-ish"
    frame.to_csv(data, index=False)
    result = invoke(
        "train", data, "--target", "load", "--time", "timestamp", "--out", tmp_path / "m"
    )
    assert_one_line_error(result, "does not parse", "yesterday-ish")
