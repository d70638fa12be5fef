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
    many = infer_task(pd.Series(np.arange(100) * 3 + 50), "count")
    assert many.task == "regression"
    assert many.warning is None


@pytest.mark.parametrize("start", [0, 1])
def test_a_target_that_numbers_the_rows_is_regression_with_a_warning_that_it_looks_like_an_id(
    start: int,
) -> None:
    numbers = np.random.default_rng(0).permutation(np.arange(start, start + 300))
    choice = infer_task(pd.Series(numbers), "FlockID")
    assert choice.task == "regression"
    assert choice.warning == (
        f"target 'FlockID' holds a different whole number on every row, counting from {start} "
        "like a row id: check that it is the column to predict"
    )
    as_text = infer_task(pd.Series([str(v) for v in numbers]), "patnr")  # read from text
    assert as_text.warning is not None
    assert "like a row id" in as_text.warning
    populations = np.random.default_rng(1).choice(10**7, 300, replace=False) + 10**5
    assert infer_task(pd.Series(populations), "pop").warning is None  # distinct, not counting
    assert infer_task(pd.Series(numbers[:15]), "n").warning is None  # too few rows to tell


def test_numbers_written_as_text_are_numbers_and_a_stray_word_does_not_make_labels() -> None:
    assert infer_task(pd.Series(["1.5", "2.25", "3.0", "4.5"]), "y").task == "regression"
    values = [str(v) for v in np.linspace(1, 50, 300)]
    values[5] = "expensive"  # a bad value in a numeric column: regression's check names it
    assert infer_task(pd.Series(values, dtype=object), "y").task == "regression"
