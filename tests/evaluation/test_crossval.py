"""cross_validate: K-fold retraining, held-out scores, mean ± std over folds, the table."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from deepfit import ConfigError, DataError, DeepfitWarning, Regressor
from deepfit.evaluation import crossval as crossval_module
from deepfit.evaluation.baselines import BASELINES
from deepfit.evaluation.crossval import (
    CrossValidation,
    Fold,
    MeanStd,
    cross_validate,
    retraining_params,
)
from deepfit.evaluation.metrics import regression_metrics
from deepfit.report.console import crossval_table
from deepfit.training.state import INTERRUPTED
from tests.support.tables import make_table

TINY: dict[str, Any] = {"model": "mlp", "hidden_layers": (8,), "max_epochs": 3, "batch_size": 32}
ROWS = 60


@pytest.fixture(scope="module")
def result() -> CrossValidation:
    """3 folds of 60 rows, deepfit and every baseline."""
    return cross_validate(make_table(ROWS), target="y", folds=3, seed=0, **TINY)


def render(table: Any) -> str:
    console = Console(width=200, record=True, file=None, force_terminal=False)
    with console.capture() as captured:
        console.print(table)
    return captured.get()


def test_held_out_rows_are_disjoint_and_cover_every_row_once(result: CrossValidation) -> None:
    held_out = np.concatenate([fold.test_rows for fold in result.folds])
    assert sorted(held_out.tolist()) == list(range(ROWS))
    assert [fold.number for fold in result.folds] == [1, 2, 3]
    assert [len(fold.test_rows) for fold in result.folds] == [20, 20, 20]
    assert [fold.train_rows for fold in result.folds] == [40, 40, 40]
    # shuffled: the folds are not consecutive blocks of rows
    assert result.folds[0].test_rows.tolist() != list(range(20))
    assert result.n_rows == ROWS
    assert result.target == "y"


def test_every_model_has_every_metric_on_every_fold(result: CrossValidation) -> None:
    assert result.models == ["deepfit", *BASELINES]
    for fold in result.folds:
        assert list(fold.scores) == ["deepfit", *BASELINES]
        for scores in fold.scores.values():
            assert {"rmse", "mse", "mae", "r2", "explained_variance", "median_ae"} <= set(scores)
            assert all(np.isfinite(value) for value in scores.values())
    # a constant (the mean of other rows) is worse than the held-out rows' own mean
    assert np.all(result.fold_scores("mean", "r2") < 0)
    assert result.seconds > 0


def test_mean_and_std_are_those_of_the_folds(result: CrossValidation) -> None:
    summary = result.summary
    assert list(summary) == ["deepfit", *BASELINES]
    for model, metrics in summary.items():
        assert "rmse" in metrics
        for metric, cell in metrics.items():
            values = [fold.scores[model][metric] for fold in result.folds]
            assert cell.mean == pytest.approx(np.mean(values), rel=1e-12)
            assert cell.std == pytest.approx(np.std(values), rel=1e-12)
    assert summary["deepfit"]["rmse"].std > 0  # the folds differ


def test_summary_of_known_folds_and_metrics_some_fold_lacks() -> None:
    rows = np.arange(4)
    folds = (
        Fold(1, rows[:2], 2, {"deepfit": {"rmse": 1.0, "mape": 0.1}}),
        Fold(2, rows[2:], 2, {"deepfit": {"rmse": 3.0}}),  # e.g. this fold's target has a 0
    )
    cv = CrossValidation(target="y", n_rows=4, seed=0, folds=folds, seconds=1.5)
    assert cv.summary == {"deepfit": {"rmse": MeanStd(mean=2.0, std=1.0)}}
    assert np.isnan(cv.fold_scores("deepfit", "mape")[1])
    text = render(crossval_table(cv))
    assert "2 folds, seed 0, 1.5 s" in " ".join(text.split())  # may wrap in a narrow table
    assert "MAPE" not in text
    assert "2 ± 1" in next(line for line in text.splitlines() if "RMSE" in line)


def test_held_out_scores_come_from_rows_the_model_never_saw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = make_table(ROWS)
    seen: list[set[int]] = []
    scored: list[tuple[np.ndarray, dict[str, float]]] = []

    class Spy(Regressor):
        def fit(self, X: Any, y: Any, **kwargs: Any) -> Regressor:
            rows = set(X.index)
            if kwargs.get("X_val") is not None:
                rows |= set(kwargs["X_val"].index)
            seen.append(rows)
            return super().fit(X, y, **kwargs)

    def recording_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        scores = regression_metrics(y_true, y_pred)
        scored.append((np.asarray(y_true), scores))
        return scores

    monkeypatch.setattr(crossval_module, "estimator_for", lambda task: Spy)
    monkeypatch.setattr("deepfit.tasks.regression.regression_metrics", recording_metrics)
    cv = cross_validate(frame, target="y", folds=3, baselines=False, **TINY)
    assert len(seen) == len(scored) == 3  # one fit and one scoring per fold, no more
    y = frame["y"].to_numpy()
    for fold, rows, (y_true, scores) in zip(cv.folds, seen, scored, strict=True):
        held_out = set(fold.test_rows.tolist())
        assert rows == set(range(ROWS)) - held_out
        np.testing.assert_array_equal(y_true, y[fold.test_rows])
        assert fold.scores == {"deepfit": scores}


def test_each_fold_holds_out_a_validation_share_for_early_stopping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validation_rows: list[int] = []

    class Spy(Regressor):
        def fit(self, X: Any, y: Any, **kwargs: Any) -> Regressor:
            validation_rows.append(len(kwargs["X_val"]) if "X_val" in kwargs else 0)
            return super().fit(X, y, **kwargs)

    monkeypatch.setattr(crossval_module, "estimator_for", lambda task: Spy)
    frame = make_table(ROWS)
    cross_validate(frame, target="y", folds=3, baselines=False, validation_fraction=0.25, **TINY)
    assert validation_rows == [10, 10, 10]  # 25% of each fold's 40 training rows
    validation_rows.clear()
    cross_validate(frame, target="y", folds=3, baselines=False, **TINY, patience=None)
    assert validation_rows == [0, 0, 0]  # no early stopping: fit holds nothing out either


def test_the_same_seed_gives_the_same_numbers() -> None:
    frame = make_table(ROWS)
    first, second, other = (
        cross_validate(frame, target="y", folds=3, seed=seed, baselines=False, **TINY)
        for seed in (7, 7, 8)
    )
    for a, b in zip(first.folds, second.folds, strict=True):
        np.testing.assert_array_equal(a.test_rows, b.test_rows)
        assert a.scores == b.scores
    assert first.summary == second.summary
    assert not np.array_equal(first.folds[0].test_rows, other.folds[0].test_rows)
    assert first.summary != other.summary


def test_the_table_has_mean_and_std_rows_and_deepfit_first(result: CrossValidation) -> None:
    text = render(crossval_table(result))
    lines = text.splitlines()
    header = next(line for line in lines if "deepfit" in line)
    positions = [header.index(name) for name in ("deepfit", *BASELINES)]
    assert positions == sorted(positions)
    for label in ("RMSE", "MAE", "median AE", "R²", "expl. variance", "MSE"):
        row = next(line for line in lines if line.startswith(f"│ {label} "))
        assert row.count("±") == 1 + len(BASELINES), row
    assert "3-fold cross-validation: mean ± std" in text
    assert "3 folds, seed 0" in text
    cell = result.summary["deepfit"]["r2"]
    assert f"{cell.mean:.4f} ± {cell.std:.4f}" in text


@pytest.mark.parametrize("folds", [1, 0, -3, 2.5, True])
def test_too_few_folds_is_a_config_error(folds: Any) -> None:
    with pytest.raises(ConfigError, match="at least 2 folds"):
        cross_validate(make_table(20), target="y", folds=folds, **TINY)


def test_more_folds_than_rows_is_a_data_error() -> None:
    with pytest.raises(DataError, match="11 folds need at least 11 rows, but the data has 10"):
        cross_validate(make_table(10), target="y", folds=11, **TINY)


def test_a_missing_target_is_a_data_error() -> None:
    with pytest.raises(DataError, match="target column 'price' is not in the data"):
        cross_validate(make_table(20), target="price", folds=2, **TINY)


def test_each_warning_is_given_once_not_once_per_fold() -> None:
    frame = make_table(30).assign(constant=1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cross_validate(frame, target="y", folds=3, baselines=False, **TINY)
    notes = [str(w.message) for w in caught if issubclass(w.category, DeepfitWarning)]
    assert len(notes) == 1, notes
    assert "constant" in notes[0]


def test_ctrl_c_in_a_fold_stops_the_cross_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    class Interrupted(Regressor):
        def fit(self, X: Any, y: Any, **kwargs: Any) -> Regressor:
            super().fit(X, y, **kwargs)
            self.training_summary_["stop_reason"] = INTERRUPTED
            return self

    monkeypatch.setattr(crossval_module, "estimator_for", lambda task: Interrupted)
    with pytest.raises(KeyboardInterrupt):
        cross_validate(make_table(20), target="y", folds=2, baselines=False, **TINY)


def test_progress_is_called_with_each_fold() -> None:
    done: list[int] = []
    cross_validate(
        make_table(20),
        target="y",
        folds=2,
        baselines=False,
        progress=lambda fold: done.append(fold.number),
        **TINY,
    )
    assert done == [1, 2]


def test_retraining_params_keep_the_settings_and_drop_what_belongs_to_one_run(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = Regressor(hidden_layers=(8, 4), learning_rate=0.01, checkpoint_dir=tmp_path)
    model.settings_ = {  # as resolved when it was fitted (or built from a fine-tuned base)
        **model.get_params(),
        "hidden_layers": (16,),
        "dropout": 0.0,
        "checkpoint_every": 3,
        "verbose": 1,
        "random_state": 5,
    }
    params = retraining_params(model)
    for name in ("checkpoint_dir", "checkpoint_every", "init_from", "train_last", "verbose"):
        assert name not in params
    assert "random_state" not in params  # the seed of the cross-validation decides
    assert params["learning_rate"] == 0.01
    assert params["hidden_layers"] == (16,)
    assert params["dropout"] == 0.0
    Regressor(**params)  # every kept name is a parameter
    # settings that another version lacks are simply not there to drop
    model.settings_ = {"max_epochs": 3}
    assert retraining_params(model) == {"max_epochs": 3}


def test_a_file_path_is_read(tmp_path: Any) -> None:
    path = tmp_path / "table.csv"
    make_table(20).to_csv(path, index=False)
    cv = cross_validate(path, target="y", folds=2, baselines=False, **TINY)
    assert cv.n_rows == 20
    assert np.all(np.isfinite(cv.fold_scores("deepfit", "rmse")))
