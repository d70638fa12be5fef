"""Which task a target asks for, when the user did not say.

* text, categories or booleans: classification (numbers written as text are numbers, and a
  column of numbers with a stray word is a numeric target with a bad value; numbers written
  with thousands separators are numbers, and numbers written with decimal commas are a
  regression target whose check refuses them by name);
* numbers with exactly two distinct values (0/1, 1/2, ...): classification, as a yes/no
  written in digits;
* whole numbers with at most :data:`FEW_VALUES` distinct values: regression, with a warning
  that they look like classes (a rating, a count of rooms: either can be meant);
* whole numbers that count the rows (1, 2, ..., n in any order): regression, with a warning
  that the column looks like a row id, not something to predict;
* any other numbers: regression.

Example:
    >>> infer_task(pd.Series(["no", "yes", "no"]), "churned").task
    'classification'
    >>> infer_task(pd.Series([1.5, 2.0, 7.25]), "price").task
    'regression'
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deepfit.data.numeric_text import decimal_comma, missing_markers, parse_numbers
from deepfit.data.schema import NUMERIC_TEXT_SHARE, is_row_counter
from deepfit.data.target import as_target_series

FEW_VALUES = 10
STRAY_TEXT = 0.01  # at most this share of words among numbers still makes a numeric target


@dataclass(frozen=True)
class TaskChoice:
    """The task inferred for a target, the line that says so, and a warning if unsure."""

    task: str
    line: str
    warning: str | None = None


def infer_task(target: pd.Series, name: str) -> TaskChoice:
    """The task ``target`` (a column, missing values allowed) asks for; see the module."""
    present = as_target_series(target, name).dropna()  # refuses lists and records
    labels = _labels_shown(present)
    if _is_text(present):
        marked = missing_markers(present)
        if marked.any() and parse_numbers(present[~marked]).notna().all():
            present = present[~marked]  # numbers, with "?" where unknown: rows left out later
        if decimal_comma(present, NUMERIC_TEXT_SHARE) is not None:  # regression's check names it
            line = f"task: regression (target '{name}' holds numbers with decimal commas)"
            return TaskChoice("regression", line)
        numbers = parse_numbers(present)
        text = int(numbers.isna().sum())
        # numbers with a stray word or two: a numeric target with bad values, which the
        # regression's check then names row by row
        stray = len(present) and text <= max(1, STRAY_TEXT * len(present))
        if stray and (text == 0 or numbers.nunique() > 2):
            return _numeric(numbers.dropna(), name)
        return _classification(name, labels)
    if pd.api.types.is_bool_dtype(present) or isinstance(target.dtype, pd.CategoricalDtype):
        return _classification(name, labels)
    return _numeric(present.astype("float64"), name)


def _numeric(values: pd.Series, name: str) -> TaskChoice:
    distinct = np.unique(values.to_numpy(dtype=np.float64))
    if len(distinct) == 2:
        return _classification(name, _labels_shown(values))
    line = f"task: regression (target '{name}' is numeric); use --task classification to override"
    whole = np.all(np.isfinite(distinct)) and np.all(distinct == np.round(distinct))
    if whole and _numbers_rows(name, values, distinct):
        warning = (
            f"target '{name}' holds a different whole number on every row, counting from "
            f"{distinct[0]:g} like a row id: check that it is the column to predict"
        )
        return TaskChoice("regression", line, warning)
    if whole and 2 < len(distinct) <= FEW_VALUES:
        shown = ", ".join(f"{value:g}" for value in distinct)
        warning = (
            f"target '{name}' has only {len(distinct)} distinct whole values ({shown}); they "
            "may be classes: pass --task classification to predict them as labels"
        )
        return TaskChoice("regression", line, warning)
    return TaskChoice("regression", line)


def _numbers_rows(name: str, values: pd.Series, distinct: np.ndarray) -> bool:
    """Whether whole ``values`` (with their ``distinct`` values) look like a row id."""
    if len(distinct) != len(values) or np.abs(distinct).max(initial=0.0) >= 2.0**53:
        return False
    return is_row_counter(name, values.astype("int64"))


def _classification(name: str, labels: list[str]) -> TaskChoice:
    shown = ", ".join(labels[:FEW_VALUES]) + (", ..." if len(labels) > FEW_VALUES else "")
    return TaskChoice(
        "classification",
        f"task: classification (target '{name}' has {len(labels)} labels: {shown}); use "
        "--task regression to override",
    )


def _is_text(values: pd.Series) -> bool:
    return bool(
        pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
    ) and not pd.api.types.is_bool_dtype(values)


def _labels_shown(values: pd.Series) -> list[str]:
    distinct = list(pd.unique(values))
    with contextlib.suppress(TypeError):  # labels of mixed types keep their order of appearance
        distinct = sorted(distinct)
    return [_text(value) for value in distinct]


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
