"""What a training on a table gives back, and the checks that every way of training shares.

Example:
    >>> frame = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]})
    >>> split_target(frame, "y")[1].tolist()
    [3.0, 4.0]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from deepfit.data.numeric_text import missing_markers, parse_numbers
from deepfit.errors import ConfigError, DataError, DeepfitWarning
from deepfit.estimator import Estimator
from deepfit.evaluation.scoring import MetricsBySplit
from deepfit.tasks import TASKS, Task, make_task
from deepfit.tasks.inference import TaskChoice, infer_task


@dataclass
class TrainingResult:
    """The fitted model, its metrics beside the baselines', and the rows in each split.

    ``task`` says which task ran and why (inferred from the target, or as asked).
    """

    model: Estimator
    metrics: MetricsBySplit
    task: TaskChoice
    split_sizes: dict[str, int] = field(default_factory=dict)
    test: tuple[pd.DataFrame, np.ndarray] | None = None  # the test rows: features, target
    notes: list[str] = field(default_factory=list)  # how the data was read, for the CLI


def drop_unlabelled(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows of ``frame`` whose ``target`` is filled in; a warning says how many were left
    out. A file to train on often holds rows whose outcome is not known yet, and those can be
    neither learned from nor scored. A DataError when no row has a target.

    Example:
        >>> frame = pd.DataFrame({"x": [1, 2, 3], "y": [3.0, None, 4.0]})
        >>> with warnings.catch_warnings(record=True):
        ...     len(drop_unlabelled(frame, "y"))
        2
    """
    if target not in frame.columns:
        return frame
    column = frame[target]
    missing = column.isna().to_numpy()
    marked = missing_markers(column).to_numpy()
    if marked.any() and parse_numbers(column[~marked & ~missing]).notna().all():
        missing = missing | marked  # numbers, with "?" or "-" where the value is unknown
    count = int(missing.sum())
    if not count:
        return frame
    if count == len(frame):
        raise DataError(
            f"target '{target}' is empty in all {count:,} row(s); a model needs rows with a "
            "known target: check the column name (--target) and the file"
        )
    warnings.warn(
        f"left out {count:,} of {len(frame):,} rows whose target '{target}' is empty"
        f"{' or marked missing' if (missing & marked).any() else ''}: they can be neither "
        "learned from nor scored",
        DeepfitWarning,
        stacklevel=2,
    )
    return frame.loc[~missing].reset_index(drop=True)


def split_target(
    frame: pd.DataFrame, target: str, task: Task | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and the target column of ``frame``, checked by ``task`` (regression's by
    default)."""
    if target not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20]))
        comment = str(frame.columns[0]).lstrip().startswith("#")
        hint = "; the first line looks like a comment: remove it" if comment else ""
        raise DataError(
            f"target column '{target}' is not in the data; the columns are: {shown}{hint}"
        )
    task = task or make_task("regression")
    return frame.drop(columns=[target]), task.check_target(frame[target], target)


def choose_task(frame: pd.DataFrame, target: str, task: str | None) -> TaskChoice:
    """The task asked for, or the one the target column implies (see
    :mod:`deepfit.tasks.inference`)."""
    if task is not None:
        if task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, however: {task!r}")
        return TaskChoice(task, f"task: {task} (as asked)")
    if target not in frame.columns:
        split_target(frame, target)  # the error that names the columns
    return infer_task(frame[target], target)
