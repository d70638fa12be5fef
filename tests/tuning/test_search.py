"""tune: trial 0 is the default, the best is the minimum, pruning, resuming, time, the file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from deepfit import ConfigError, load
from deepfit.data.split import train_validation_test_split
from deepfit.estimator.auto import DataShape
from deepfit.evaluation.metrics import rmse
from deepfit.training.state import ANNEALED
from deepfit.tuning import TuningResult, tune
from deepfit.tuning.space import SPACES, base_settings
from deepfit.tuning.table import NOT_IMPROVED, summary_lines
from tests.support.tables import make_label_table, make_table

TINY: dict[str, Any] = {"hidden_layers": (8,), "max_epochs": 3, "batch_size": 32}
ROWS = 150


class PruneLaterTrials(optuna.pruners.BasePruner):
    """Prunes every trial numbered ``first`` or more as soon as it reported an epoch."""

    def __init__(self, first: int = 1) -> None:
        self.first = first

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number >= self.first and trial.last_step is not None


@pytest.fixture(scope="module")
def searched() -> TuningResult:
    return tune(make_table(ROWS), target="y", trials=4, time_limit=120, seed=0, **TINY)


def test_trial_0_is_the_default_settings(searched: TuningResult) -> None:
    first = searched.study.trials[0]
    assert first.user_attrs["default"] is True
    train_rows = len(train_validation_test_split(ROWS, seed=0).train)
    base = base_settings({**TINY, "random_state": 0}, "regression", DataShape(train_rows))
    assert base["model"] == "ensemble"  # without a model: the network auto picks
    assert first.params == SPACES["ensemble"].default(base)
    assert searched.summary["default_validation_rmse"] == first.value
    assert sum(bool(t.user_attrs.get("default")) for t in searched.study.trials) == 1


def test_best_is_the_minimum_of_completed_trials(searched: TuningResult) -> None:
    completed = searched.study.get_trials(states=(TrialState.COMPLETE,))
    best = min(completed, key=lambda trial: trial.value or math.inf)
    assert searched.summary["best_validation_rmse"] == best.value
    assert searched.summary["best_trial"] == best.number
    assert searched.summary["best_params"] == best.params
    default, value = searched.summary["default_validation_rmse"], best.value
    assert searched.improved == (value < default)
    assert searched.summary["improvement"] == pytest.approx(default - value)


def test_model_is_the_best_trial_and_never_saw_the_test_split(searched: TuningResult) -> None:
    frame = make_table(ROWS)
    split = train_validation_test_split(ROWS, seed=0)
    val = frame.iloc[split.validation]
    predicted = searched.model.predict(val.drop(columns="y"))
    assert rmse(val["y"].to_numpy(), predicted) == pytest.approx(
        searched.summary["best_validation_rmse"]
    )
    test = frame.iloc[split.test]
    test_rmse = rmse(test["y"].to_numpy(), searched.model.predict(test.drop(columns="y")))
    assert searched.summary["test_rmse"] == pytest.approx(test_rmse)
    assert searched.model.training_summary_["train_rows"] == len(split.train)


def test_saved_model_loads_with_the_tuning_summary(searched: TuningResult, tmp_path: Path) -> None:
    path = searched.model.save(tmp_path / "best.deepfit")
    loaded = load(path)
    tuning = loaded.training_summary_["tuning"]
    assert tuning["best_trial"] == searched.summary["best_trial"]
    assert tuning["best_validation_rmse"] == pytest.approx(searched.summary["best_validation_rmse"])
    assert set(tuning["importances"]) <= set(tuning["best_params"])
    assert sum(tuning["trials"].values()) == 4  # complete, or pruned by the median pruner
    assert [record["trial"] for record in tuning["history"]] == [0, 1, 2, 3]
    assert tuning["history"][0]["default"] is True
    assert "test" in loaded.metrics_["deepfit"]


def test_trials_frame_has_one_row_per_trial(searched: TuningResult) -> None:
    trials = searched.trials
    assert list(trials["trial"]) == [0, 1, 2, 3]
    assert {"state", "value", "seconds", "default", "learning_rate"} <= set(trials.columns)


def test_pruning_stops_trials_after_their_first_epoch() -> None:
    result = tune(
        make_table(ROWS),
        target="y",
        trials=3,
        time_limit=120,
        pruner=PruneLaterTrials(first=1),
        **{**TINY, "max_epochs": 20, "patience": None},
    )
    states = [trial.state for trial in result.study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED]
    assert len(result.study.trials[0].intermediate_values) == 20
    assert all(list(t.intermediate_values) == [1] for t in result.study.trials[1:])
    assert result.summary["best_trial"] == 0
    assert result.summary["improved"] is False
    assert NOT_IMPROVED in summary_lines(result.summary)


def test_no_completed_trial_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no trial"):
        tune(make_table(ROWS), target="y", trials=1, pruner=PruneLaterTrials(first=0), **TINY)


def test_resuming_a_sqlite_study_adds_trials(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    frame = make_table(ROWS)
    study: dict[str, Any] = {"target": "y", "storage": storage, "study_name": "s"}
    first = tune(frame, trials=2, **study, **TINY)
    first_params = [trial.params for trial in first.study.trials]
    again = tune(frame, trials=4, **study, **TINY)
    trials = again.study.trials
    assert len(trials) == 4
    assert [t.params for t in trials[:2]] == first_params
    assert sum(bool(t.user_attrs.get("default")) for t in trials) == 1
    assert trials[2].params != trials[1].params  # the resumed sampler draws new points
    assert again.summary["trials_this_run"] == 2
    with pytest.raises(ConfigError, match="'max_epochs'"):
        tune(frame, trials=5, **study, **{**TINY, "max_epochs": 4})


def test_time_limit_caps_the_search_and_each_trial() -> None:
    result = tune(
        make_table(ROWS),
        target="y",
        trials=50,
        time_limit=2.0,
        **{**TINY, "max_epochs": 100_000, "patience": None},
    )
    assert len(result.study.trials) < 50
    assert result.summary["seconds"] < 2.0 + 15.0  # generous: one epoch and scoring over
    # the time limit ends trial 0, or auto's anneal schedule, which decays to zero by it
    reason = result.study.trials[0].user_attrs["stop_reason"]
    assert "time limit" in reason or reason == ANNEALED, reason


def test_cross_validated_scoring() -> None:
    result = tune(make_table(ROWS), target="y", trials=2, time_limit=120, cv=2, **TINY)
    assert result.summary["scoring"] == "2-fold RMSE"
    assert result.summary["retrained"] is True
    assert len(result.study.trials) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"trials": 0}, "trials must be a positive integer"),
        ({"cv": 1}, "at least 2 folds"),
        ({"time_limit": 0}, "time_limit must be positive"),
        ({"model": "ft_transformer"}, "no search space"),
        ({"storage": "nosuchdb://x"}, "cannot open the study storage"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tune(make_table(ROWS), target="y", **{**TINY, **options})


def test_a_label_target_is_searched_on_validation_log_loss() -> None:
    frame = make_label_table(ROWS, seed=0)
    result = tune(frame, target="label", trials=2, time_limit=120, seed=0, **TINY)
    summary = result.summary
    assert (summary["task"], summary["metric"]) == ("classification", "log_loss")
    assert summary["scoring"] == "validation log-loss"
    assert summary["best_validation_log_loss"] == min(
        t.value for t in result.study.trials if t.value is not None
    )
    assert 0 < summary["test_log_loss"] < 2
    assert result.model.classes_.tolist() == ["no", "yes"]
    assert any("validation log-loss" in line for line in summary_lines(summary))
