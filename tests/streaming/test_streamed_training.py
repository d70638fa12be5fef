"""Training and predicting on a file streamed a piece at a time, end to end."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepfit import ConfigError, load
from deepfit.data.stream import plan_memory
from deepfit.streamed import predict_streamed, train_streamed
from tests.support.callbacks import Crash
from tests.support.cli import invoke
from tests.support.tables import FAST, make_label_table, make_table

QUICK = {**FAST, "max_epochs": 15, "batch_size": 64}


@pytest.fixture(scope="module")
def parquet(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "t.parquet"
    make_table(3000).to_parquet(path, row_group_size=500)
    return path


@pytest.fixture(scope="module")
def result(parquet: Path):
    return train_streamed(plan_memory(parquet, budget=1), target="y", seed=0, **QUICK)


def test_a_streamed_fit_learns_and_is_scored_beside_the_baselines(result):
    test = {name: scores["test"]["rmse"] for name, scores in result.metrics.items()}
    assert test["deepfit"] < 0.25 * test["mean"]
    summary = result.model.training_summary_
    assert summary["streamed"]["pieces"] == 6
    assert summary["streamed"]["rows"] == 3000
    sizes = result.split_sizes
    assert sum(sizes.values()) == 3000
    assert sizes["train"] == summary["train_rows"]
    assert 300 < sizes["validation"] < 600
    assert 300 < sizes["test"] < 600
    assert any("streamed 3,000 rows" in note for note in result.notes)


def test_a_streamed_model_predicts_like_itself_in_memory(result, parquet: Path, tmp_path: Path):
    model = result.model
    out = tmp_path / "p.parquet"
    rows, unseen = predict_streamed(model, parquet, out)
    assert (rows, unseen) == (3000, 0)
    frame = pd.read_parquet(parquet).drop(columns="y")
    streamed = pd.read_parquet(out)["predicted_y"].to_numpy()
    assert np.allclose(streamed, model.predict(frame), atol=1e-5)


def test_a_csv_streams_through_a_parquet_copy_with_the_same_split_and_statistics(
    result, parquet: Path, tmp_path: Path
):
    path = tmp_path / "t.csv"
    pd.read_parquet(parquet).to_csv(path, index=False)
    again = train_streamed(plan_memory(path, budget=1), target="y", seed=0, **QUICK)
    assert again.split_sizes == result.split_sizes
    first, second = result.model.preprocessor_, again.model.preprocessor_
    assert first.medians == second.medians
    assert first.vocabularies == second.vocabularies
    assert again.metrics["deepfit"]["test"]["rmse"] < 0.25 * again.metrics["mean"]["test"]["rmse"]


def test_rare_categories_and_missing_values_count_even_outside_the_sample(
    tmp_path: Path, monkeypatch
):
    frame = make_table(3000)
    frame.loc[frame.index[-40:], "colour"] = "violet"  # rows beyond a small sample's reach
    frame["x1"] = frame["x1"].astype(float)
    frame.loc[frame.index[-3:], "x1"] = np.nan
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, row_group_size=500)
    monkeypatch.setattr("deepfit.streamed.SAMPLE_ROWS", 50)
    out = train_streamed(plan_memory(path, budget=1), target="y", **{**QUICK, "max_epochs": 1})
    preprocessor = out.model.preprocessor_
    assert len(out.model.training_summary_["streamed"])
    assert out.notes
    assert "violet" in preprocessor.vocabularies["colour"]
    assert preprocessor.missing_in_training[preprocessor.numeric_names.index("x1")]


def test_classification_streams_with_every_label(tmp_path: Path):
    path = tmp_path / "labels.parquet"
    make_label_table(2000, classes=3).to_parquet(path, row_group_size=400)
    out = train_streamed(plan_memory(path, budget=1), target="label", seed=0, **QUICK)
    assert out.task.task == "classification"
    assert sorted(out.model.classes_) == ["high", "low", "mid"]
    assert out.metrics["deepfit"]["test"]["accuracy"] > 0.6


def test_a_crashed_streamed_run_resumes_to_the_uninterrupted_weights(parquet: Path, tmp_path: Path):
    plan = plan_memory(parquet, budget=1)
    settings = {**QUICK, "max_epochs": 4, "baselines": False, "target": "y"}
    straight = train_streamed(plan, **settings)
    folder = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_streamed(plan, **settings, checkpoint_dir=folder, callbacks=[Crash(at=3)])
    resumed = train_streamed(plan, **settings, checkpoint_dir=folder, resume=True)
    assert resumed.model.training_summary_["resumed_from_epoch"] == 2
    first = straight.model.network_.state_dict()
    second = resumed.model.network_.state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_bootstrap_needs_rows_in_memory(parquet: Path):
    with pytest.raises(ConfigError, match="bootstrap"):
        train_streamed(plan_memory(parquet, budget=1), target="y", bootstrap=True, **QUICK)


def test_the_cli_says_which_path_ran(parquet: Path, tmp_path: Path):
    model = tmp_path / "m.deepfit"
    out = invoke(
        "train",
        str(parquet),
        "--target",
        "y",
        "--out",
        str(model),
        "--memory-budget",
        "1KB",
        "--model",
        "mlp",
        "--hidden-layers",
        "16",
        "--max-epochs",
        "2",
        "--no-baselines",
        "-q",
    )
    assert out.exit_code == 0, out.output
    assert "streaming it a piece at a time" in out.output
    assert load(model).training_summary_["streamed"]["rows"] == 3000
    predictions = tmp_path / "p.csv"
    out = invoke(
        "predict", str(model), str(parquet), "--out", str(predictions), "--memory-budget", "1KB"
    )
    assert "streaming" in out.output
    assert len(pd.read_csv(predictions)) == 3000
    out = invoke("predict", str(model), str(parquet), "--out", str(tmp_path / "q.csv"))
    assert "streaming" not in out.output
