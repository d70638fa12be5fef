"""Studies that train: the split is train_table's, divergence is recorded, files are written."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfit.data.split import train_validation_test_split
from deepfit.errors import ConfigError, DataError, DeepfitWarning, OutputExistsError
from deepfit.study import run_study
from deepfit.study.runner import divergence, training_rows
from deepfit.study.table import study_metrics
from deepfit.workflow import train_table
from tests.support.study import TINY, label_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_run_matches_train_table_with_the_same_seed(small: pd.DataFrame) -> None:
    study = run_study(small, target="y", vary={"learning_rate": [0.01]}, seeds=[1], settings=TINY)
    expected = train_table(small, target="y", seed=1, baselines=False, learning_rate=0.01, **TINY)
    run = study.factors["learning_rate"].runs.iloc[0]
    for name, value in expected.metrics["deepfit"]["test"].items():
        if name in study_metrics("regression").test:
            assert run[name] == pytest.approx(value, rel=1e-9), name


def test_divergence_is_recorded_and_the_study_carries_on(
    small: pd.DataFrame, tmp_path: Path
) -> None:
    done: list[str] = []
    study = run_study(
        small,
        target="y",
        vary={"learning_rate": ["0.01", "1e12"], "depth": ["1", "2"]},
        seeds=(0, 1),
        settings=TINY,
        out=tmp_path / "study",
        on_run=lambda factor, count, total, row: done.append(f"{factor} {count}/{total}"),
    )
    assert done[-1] == "depth 4/4"
    assert len(done) == 8
    runs = study.factors["learning_rate"].runs
    assert runs["value"].tolist() == ["0.01", "0.01", "1e12", "1e12"]
    assert runs["seed"].tolist() == [0, 1, 0, 1]
    calm, wild = runs.iloc[:2], runs.iloc[2:]
    assert calm["note"].eq("").all()
    assert np.isfinite(calm[["rmse", "r2", "mse"]]).all().all()
    assert wild["note"].str.startswith("diverged").all()
    assert wild[["mse", "rmse", "r2"]].isna().all().all()
    summary = study.factors["learning_rate"].summary
    assert summary["note"].tolist() == ["", "2/2 diverged"]
    assert summary.loc[0, "rmse_mean"] == pytest.approx(calm["rmse"].mean())
    assert summary.loc[0, "rmse_std"] == pytest.approx(calm["rmse"].std(ddof=1))
    assert study.factors["depth"].summary["epochs_mean"].tolist() == [3.0, 3.0]

    folder = tmp_path / "study"
    for factor in ["learning_rate", "depth"]:
        assert (folder / f"{factor}.png").read_bytes()[:8] == PNG_MAGIC
        table = pd.read_csv(folder / f"{factor}.csv")
        assert len(table) == 2
        assert {"mse_mean", "r2_std", "seconds_mean"} <= set(table.columns)
        assert len(pd.read_csv(folder / f"{factor}_runs.csv")) == 4
        assert "| R² |" in (folder / f"{factor}.md").read_text()
    index = (folder / "README.md").read_text()
    assert "## learning_rate" in index
    assert "## depth" in index
    assert "depth.png" in index


def test_train_size_uses_fewer_training_rows_and_the_same_test_rows(small: pd.DataFrame) -> None:
    study = run_study(
        small, target="y", vary={"train_size": ["0.5", "20"]}, seeds=[0], settings=TINY
    )
    runs = study.factors["train_size"].runs
    split = train_validation_test_split(len(small), seed=0)
    assert runs["train_rows"].tolist() == [round(len(split.train) * 0.5), 20]
    assert np.isfinite(runs["rmse"]).all()


def test_smaller_training_sets_nest_in_larger_ones() -> None:
    split = train_validation_test_split(200, seed=3)
    small, large = training_rows(split, 0.25, 3), training_rows(split, 0.75, 3)
    assert set(small) <= set(large) <= set(split.train)
    assert len(training_rows(split, None, 3)) == len(split.train)
    with pytest.raises(DataError, match="more than the 140 rows"):
        training_rows(split, 1000, 3)


def test_unknown_feature_columns_fail_before_any_training(small: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="feature columns are: x1, x2"):
        run_study(small, target="y", vary={"features": ["x1+nope"]}, seeds=[0], settings=TINY)


def test_a_non_empty_folder_is_refused_without_overwrite(
    small: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="--force"):
        run_study(small, target="y", vary={"width": [4]}, seeds=[0], settings=TINY, out=tmp_path)
    assert not math.isnan(len(list(tmp_path.iterdir())))
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_a_loss_that_exploded_but_recovered_is_scored_and_marked_unstable() -> None:
    history = [{"train_loss": 0.8}, {"train_loss": 5e4}, {"train_loss": 0.6}]
    assert divergence("", history, np.zeros(4)) == "unstable: train loss 5e+04 at epoch 2"
    assert divergence("", history[:1], np.zeros(4)) == ""
    assert divergence("", history[:1], np.array([0.0, np.inf])).startswith("diverged")
    assert divergence("", [{"train_loss": float("nan")}], np.zeros(2)).startswith("diverged")


def test_a_classification_study_is_inferred_from_a_text_label_and_scored_as_one(
    tmp_path: Path,
) -> None:
    table = label_table()
    started: list[str] = []
    study = run_study(
        table,
        target="kind",
        vary={"label_smoothing": ["0", "0.1"], "learning_rate": ["0.01", "1e12"]},
        seeds=(0, 1),
        settings={**TINY, "learning_rate": 0.03, "max_epochs": 10},
        out=tmp_path / "study",
        on_start=lambda choice: started.append(choice.line),
    )
    assert study.task == "classification"
    assert len(started) == 1
    assert started[0].startswith("task: classification (target 'kind' has 3 labels")
    runs = study.factors["label_smoothing"].runs
    assert runs["value"].tolist() == ["0", "0", "0.1", "0.1"]
    assert runs["note"].eq("").all()
    assert runs["accuracy"].min() > 0.6  # it learns the labels: the commonest is 42% of rows
    assert (runs["log_loss"] > 0).all()
    assert not {"rmse", "r2", "mse"} & set(runs.columns)
    # same seed, so the same split and start: only the smoothing differs
    assert runs.loc[0, "log_loss"] != pytest.approx(runs.loc[2, "log_loss"], rel=1e-3)

    wild = study.factors["learning_rate"].runs.iloc[2:]
    assert wild["note"].str.startswith("diverged").all()
    assert wild[["log_loss", "accuracy"]].isna().all().all()
    assert study.factors["learning_rate"].summary["note"].tolist() == ["", "2/2 diverged"]

    folder = tmp_path / "study"
    summary = pd.read_csv(folder / "label_smoothing.csv")
    assert {"log_loss_mean", "accuracy_mean", "roc_auc_std", "epochs_mean"} <= set(summary)
    assert not any(column.startswith(("rmse", "r2", "mse")) for column in summary)
    markdown = (folder / "label_smoothing.md").read_text()
    assert "| log-loss |" in markdown
    assert "| accuracy |" in markdown
    assert "RMSE" not in markdown
    assert (folder / "label_smoothing.png").read_bytes()[:8] == PNG_MAGIC
    assert "Target `kind` (classification)" in (folder / "README.md").read_text()


def test_a_classification_run_matches_train_table_with_the_same_stratified_split() -> None:
    table = label_table()
    study = run_study(table, target="kind", vary={"width": [8]}, seeds=[2], settings=TINY)
    expected = train_table(table, target="kind", seed=2, baselines=False, **TINY)
    assert expected.task.task == "classification"
    run = study.factors["width"].runs.iloc[0]
    scores = expected.metrics["deepfit"]["test"]
    for name in ["log_loss", "accuracy", "balanced_accuracy", "brier", "f1_macro"]:
        assert run[name] == pytest.approx(scores[name], rel=1e-9), name


def test_the_task_can_be_given_instead_of_inferred() -> None:
    table = label_table()
    table["kind"] = table["kind"].map({"low": 0.0, "mid": 1.0, "high": 2.0})
    tiny = {"vary": {"width": [8]}, "seeds": [0], "settings": TINY}
    with pytest.warns(DeepfitWarning, match="may be classes"):
        inferred = run_study(table, target="kind", **tiny)
    assert inferred.task == "regression"
    assert np.isfinite(inferred.factors["width"].runs["rmse"]).all()
    given = run_study(table, target="kind", task="classification", **tiny)
    assert given.task == "classification"
    assert given.task_line == "task: classification (as asked)"
    assert np.isfinite(given.factors["width"].runs["accuracy"]).all()
    with pytest.raises(ConfigError, match="unknown factor 'label_smoothing'"):
        run_study(table, target="kind", vary={"label_smoothing": [0.1]}, task="regression")
