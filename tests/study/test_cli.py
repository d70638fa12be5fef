"""``deepfit study`` end to end, and its one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from deepfit.cli import app
from tests.support.study import label_table

runner = CliRunner()
TINY_OPTIONS = ["--set", "model=mlp", "--set", "hidden_layers=8", "--set", "max_epochs=3"]


def write(frame: pd.DataFrame, folder: Path) -> str:
    path = folder / "data.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_study_writes_tables_and_plots_per_factor(small: pd.DataFrame, tmp_path: Path) -> None:
    data, out = write(small, tmp_path), tmp_path / "study"
    arguments = ["study", data, "--target", "y", "--vary", "activation=relu,tanh"]
    arguments += ["--vary", "features=x1+x2,drop:colour", "--seeds", "0,1", "--out", str(out)]
    arguments += ["--set", "max_epochs=3", "--set", "hidden_layers=8", "--set", "batch_size=32"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "activation 4/4" in result.output
    assert "features: test metrics" in result.output
    names = {path.name for path in out.iterdir()}
    for factor in ["activation", "features"]:
        assert {f"{factor}{end}" for end in [".md", ".csv", "_runs.csv", ".png"]} <= names
        assert pd.read_csv(out / f"{factor}.csv")["value"].tolist() in (
            ["relu", "tanh"],
            ["x1+x2", "drop:colour"],
        )
    readme = (out / "README.md").read_text()
    assert "deepfit study" in readme
    assert "--vary activation=relu,tanh" in readme

    again = runner.invoke(app, arguments)
    assert again.exit_code == 1
    assert "--force" in again.output


def test_bad_factor_is_one_line_listing_the_factors(small: pd.DataFrame, tmp_path: Path) -> None:
    data = write(small, tmp_path)
    result = runner.invoke(app, ["study", data, "--target", "y", "--vary", "speed=1,2"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert "error: unknown factor 'speed'" in result.output
    assert "learning_rate" in result.output
    for bad in ["width=wide", "learning_rate", "learning_rate="]:
        result = runner.invoke(app, ["study", data, "--target", "y", "--vary", bad])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error:"), result.output
    assert not (tmp_path / "study").exists()


def test_a_text_label_makes_a_classification_study(tmp_path: Path) -> None:
    data, out = write(label_table(), tmp_path), tmp_path / "study"
    arguments = ["study", data, "--target", "kind", "--vary", "label_smoothing=0,0.1"]
    arguments += ["--seeds", "0", "--out", str(out), *TINY_OPTIONS]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert result.output.count("task: classification (target 'kind' has 3 labels") == 1
    assert result.output.index("task: classification") < result.output.index("label_smoothing 1/2")
    progress = [line for line in result.output.splitlines() if "label_smoothing 2/2" in line]
    assert re.search(r"log-loss \d\.\d+, accuracy \d\.\d{3}, ", progress[0]), progress
    assert "RMSE" not in result.output
    summary = pd.read_csv(out / "label_smoothing.csv")
    assert summary["value"].tolist() == [0, 0.1]
    assert {"log_loss_mean", "accuracy_mean", "balanced_accuracy_mean"} <= set(summary)
    assert (out / "label_smoothing.png").exists()


def test_task_regression_on_a_numeric_target_keeps_the_regression_columns(
    small: pd.DataFrame, tmp_path: Path
) -> None:
    data, out = write(small, tmp_path), tmp_path / "study"
    arguments = ["study", data, "--target", "y", "--task", "regression", "--vary", "width=4,8"]
    arguments += ["--seeds", "0", "--out", str(out), *TINY_OPTIONS]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "task: regression (as asked)" in result.output
    assert re.search(r"RMSE [\d.]+, R² -?\d\.\d{3}, ", result.output), result.output
    metrics = ["mse", "rmse", "mae", "r2", "explained_variance", "mape", "rmsle"]
    metrics += ["final_train_loss", "final_validation_loss", "epochs", "seconds"]
    summary = pd.read_csv(out / "width.csv")
    assert list(summary.columns) == [
        "value",
        "runs",
        *(f"{metric}_{part}" for metric in metrics for part in ("mean", "std")),
        "note",
    ]
    runs = pd.read_csv(out / "width_runs.csv")
    assert list(runs.columns) == ["factor", "value", "seed", *metrics, "train_rows", "note"]
    assert "--task regression" in (out / "README.md").read_text()


def test_a_parameter_of_the_other_task_is_refused_in_one_line(tmp_path: Path) -> None:
    data = write(label_table(), tmp_path)
    result = runner.invoke(app, ["study", data, "--target", "kind", "--vary", "loss=mse,huber"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert "error: unknown factor 'loss'" in result.output
    assert "Classifier parameter" in result.output
    assert not (tmp_path / "study").exists()
