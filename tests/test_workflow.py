"""train_table: split, fit, metrics beside baselines, as `deepfit train` does it."""

import numpy as np
import pytest

from deepfit import DataError, DeepfitWarning
from deepfit.evaluation.baselines import BASELINES
from deepfit.workflow import train_table
from tests.support.tables import FAST, make_table


@pytest.fixture(scope="module")
def result():
    return train_table(make_table(400), target="y", seed=0, **FAST)


def test_default_split_is_70_15_15(result):
    assert result.split_sizes == {"train": 280, "validation": 60, "test": 60}
    assert result.model.training_summary_["train_rows"] == 280


def test_metrics_for_the_network_and_every_baseline_on_every_split(result):
    assert set(result.metrics) == {"deepfit", *BASELINES}
    for scores in result.metrics.values():
        assert set(scores) == {"train", "validation", "test"}
    test = result.metrics["deepfit"]["test"]
    assert {"rmse", "mse", "mae", "r2", "explained_variance", "median_ae"} <= set(test)
    assert "mape" in test  # the target has no zeros
    assert result.model.metrics_ is result.metrics


def test_the_network_beats_the_mean_and_ridge_on_a_nonlinear_table():
    frame = make_table(400)
    frame["y"] = 10 * np.sin(2 * frame["x1"]) + 5 * frame["x2"].fillna(0) ** 2
    out = train_table(frame, target="y", seed=0, **FAST)
    test = {name: scores["test"]["rmse"] for name, scores in out.metrics.items()}
    assert test["deepfit"] < 0.4 * test["mean"]
    assert test["deepfit"] < 0.5 * test["ridge"]


def test_a_separate_validation_file_is_used(tmp_path):
    validation = tmp_path / "val.csv"
    make_table(50, seed=9).to_csv(validation, index=False)
    out = train_table(make_table(200), target="y", validation=validation, baselines=False, **FAST)
    assert out.split_sizes == {"train": 170, "validation": 50, "test": 30}
    assert set(out.metrics) == {"deepfit"}


def test_a_missing_target_lists_the_columns():
    with pytest.raises(DataError, match=r"target column 'price' is not in the data.*x1, x2"):
        train_table(make_table(50), target="price")


def test_rows_without_a_target_are_left_out_with_a_warning():
    frame = make_table(220)
    frame.loc[[3, 50, 51], "y"] = np.nan
    with pytest.warns(DeepfitWarning, match=r"left out 3 of 220 rows whose target 'y' is empty"):
        out = train_table(frame, target="y", baselines=False, **FAST)
    assert sum(out.split_sizes.values()) == 217
    assert out.model.training_summary_["train_rows"] == out.split_sizes["train"]


def test_a_target_of_numbers_with_question_marks_leaves_those_rows_out():
    frame = make_table(220)
    frame["y"] = frame["y"].round(3).astype(object)
    frame.loc[[3, 50, 51, 60, 61], "y"] = "?"  # more than a stray word: 2% of the rows
    with pytest.warns(DeepfitWarning, match=r"left out 5 of 220 rows .* or marked missing"):
        out = train_table(frame, target="y", baselines=False, **FAST)
    assert type(out.model).__name__ == "Regressor"
    assert sum(out.split_sizes.values()) == 215


def test_a_validation_file_without_targets_is_trimmed_too(tmp_path):
    validation = make_table(50, seed=9)
    validation.loc[:9, "y"] = np.nan
    path = tmp_path / "val.csv"
    validation.to_csv(path, index=False)
    with pytest.warns(DeepfitWarning, match=r"left out 10 of 50 rows"):
        out = train_table(make_table(200), target="y", validation=path, baselines=False, **FAST)
    assert out.split_sizes["validation"] == 40


def test_a_target_empty_in_every_row_is_refused():
    frame = make_table(50)
    frame["y"] = np.nan
    with pytest.raises(DataError, match=r"target 'y' is empty in all 50 row\(s\)"):
        train_table(frame, target="y", **FAST)


def test_a_comment_line_above_the_header_is_pointed_out(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("# exported on 2024-01-31\n" + make_table(30).to_csv(index=False))
    with pytest.raises(DataError, match="the first line looks like a comment: remove it"):
        train_table(path, target="y", **FAST)
