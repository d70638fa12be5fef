"""Which task a target asks for when the user does not say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepfit.tasks.inference import infer_task


@pytest.mark.parametrize(
    "values",
    [
        ["no", "yes", "no", "yes"],
        [True, False, True, True],
        ["Adelie", "Gentoo", "Chinstrap", "Adelie"],
        [0, 1, 1, 0, 1],  # a yes/no written in digits
        [1.0, 2.0, 2.0, 1.0],
    ],
)
def test_labels_text_booleans_and_two_values_are_classification(values: list) -> None:
    choice = infer_task(pd.Series(values), "outcome")
    assert choice.task == "classification"
    assert choice.line.startswith("task: classification (target 'outcome' has")
    assert "use --task regression to override" in choice.line
    assert choice.warning is None


def test_the_line_names_the_labels_sorted() -> None:
    line = infer_task(pd.Series(["yes", "no", "no", None]), "churned").line
    assert "has 2 labels: no, yes)" in line


def test_numbers_are_regression() -> None:
    choice = infer_task(pd.Series(np.linspace(0.5, 99.5, 50)), "price")
    assert choice.task == "regression"
    assert choice.warning is None
    assert "use --task classification to override" in choice.line


def test_few_whole_numbers_stay_regression_with_a_warning_that_names_the_flag() -> None:
    choice = infer_task(pd.Series([1, 2, 3, 4, 5] * 20), "rating")
    assert choice.task == "regression"
    assert choice.warning is not None
    assert "5 distinct whole values (1, 2, 3, 4, 5)" in choice.warning
    assert "--task classification" in choice.warning
    many = infer_task(pd.Series(np.arange(100)), "count")
    assert many.task == "regression"
    assert many.warning is None


def test_numbers_written_as_text_are_numbers_and_a_stray_word_does_not_make_labels() -> None:
    assert infer_task(pd.Series(["1.5", "2.25", "3.0", "4.5"]), "y").task == "regression"
    values = [str(v) for v in np.linspace(1, 50, 300)]
    values[5] = "expensive"  # a bad value in a numeric column: regression's check names it
    assert infer_task(pd.Series(values, dtype=object), "y").task == "regression"
