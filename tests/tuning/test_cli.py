"""``deepfit tune`` end to end: tables on stdout, progress on stderr, files, resuming."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner, Result

from deepfit import load
from deepfit.cli import app
from tests.support.tables import make_table

FAST = ["--target", "y", "--max-epochs", "2", "--time-limit", "120"]


def run(*args: object) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def test_tune_writes_the_best_model_and_trials_and_resumes(tmp_path: Path) -> None:
    data = tmp_path / "table.csv"
    make_table(150).to_csv(data, index=False)
    out = tmp_path / "runs" / "best.deepfit"

    result = run("tune", data, *FAST, "--trials", "2", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "top 2 of 2 trials (validation RMSE)" in result.stdout
    assert "default settings: validation RMSE" in result.stdout
    assert "improvement over the default" in result.stdout or (
        "the search did not improve on the default settings" in result.stdout
    )
    assert "trial 0: complete" in result.stderr
    assert (tmp_path / "runs" / "tune.db").exists()
    tuning = load(out).training_summary_["tuning"]
    assert tuning["study_name"] == "table-y"
    assert tuning["trials"] == {"complete": 2}
    assert len(pd.read_csv(out.with_suffix(".trials.csv"))) == 2

    refused = run("tune", data, *FAST, "--trials", "3", "--out", out)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error:")
    assert "already exists" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    resumed = run("tune", data, *FAST, "--trials", "3", "--out", out, "--force")
    assert resumed.exit_code == 0, resumed.stderr
    assert "trial 2:" in resumed.stderr
    assert "trial 0:" not in resumed.stderr
    assert len(pd.read_csv(out.with_suffix(".trials.csv"))) == 3


def test_tune_reports_a_missing_target_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "table.csv"
    make_table(50).to_csv(data, index=False)
    result = run("tune", data, "--target", "nope", "--out", tmp_path / "best.deepfit")
    assert result.exit_code == 1
    assert result.stderr.startswith("error:")
    assert "target column 'nope'" in result.stderr


def test_a_pruned_trial_is_reported_by_epoch_not_by_a_loss_called_rmse(tmp_path: Path) -> None:
    import optuna

    from deepfit.cli.search import _trial_line

    pruned = optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED, value=0.27, intermediate_values={1: 0.3, 2: 0.27}
    )
    complete = optuna.trial.create_trial(value=51_000.0)
    assert "RMSE" not in _trial_line(pruned)
    assert "after 2 epoch(s)" in _trial_line(pruned)
    assert "RMSE 51000" in _trial_line(complete)
