"""Studies that train: the split is train_table's, divergence is recorded, files are written."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfit.data.split import train_validation_test_split
from deepfit.errors import DataError, OutputExistsError
from deepfit.study import run_study
from deepfit.study.runner import divergence, training_rows
from deepfit.study.table import METRICS
from deepfit.workflow import train_table
from tests.support.study import TINY

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_run_matches_train_table_with_the_same_seed(small: pd.DataFrame) -> None:
    study = run_study(small, target="y", vary={"learning_rate": [0.01]}, seeds=[1], settings=TINY)
    expected = train_table(small, target="y", seed=1, baselines=False, learning_rate=0.01, **TINY)
    run = study.factors["learning_rate"].runs.iloc[0]
    for name, value in expected.metrics["deepfit"]["test"].items():
        if name in METRICS:
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
